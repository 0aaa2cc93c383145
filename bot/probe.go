package bot

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"time"
)

// probe is the container's health check and the operator's look inside
// a pod: the runtime image has no shell or curl. It prints what the
// endpoint says (/readyz names each failing check) and fails unless it
// answered 200.
func probe(ctx context.Context, url string, stdout io.Writer) error {
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	// Bounded: /metrics is the largest page a probe is pointed at.
	if _, err := io.Copy(stdout, io.LimitReader(resp.Body, 4<<20)); err != nil {
		return fmt.Errorf("read %s: %w", url, err)
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s answered %d", url, resp.StatusCode)
	}
	return nil
}
