package arms

import (
	"errors"
	"fmt"
	"sync"

	"github.com/aliyun/alibaba-cloud-sdk-go/sdk/auth/credentials"
)

// OIDC is RRSA on ACK: the pod's OIDC token exchanged at STS for a role's
// temporary credentials.
type OIDC struct {
	RoleARN     string
	ProviderARN string
	TokenFile   string
	// STSEndpoint is the STS host[:port]; empty takes the SDK's choice
	// (sts.aliyuncs.com, or by ALIBABA_CLOUD_STS_REGION and
	// ALIBABA_CLOUD_VPC_ENDPOINT_ENABLED).
	STSEndpoint string
}

// provider serialises a credentials provider: the SDK's providers keep
// their session without a lock, and the pool's clients share one.
type provider struct {
	mu sync.Mutex
	p  credentials.CredentialsProvider
}

func (p *provider) GetCredentials() (*credentials.Credentials, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	c, err := p.p.GetCredentials()
	if err != nil {
		return nil, &credentialsError{provider: p.p.GetProviderName(), err: err}
	}
	return c, nil
}

func (p *provider) GetProviderName() string { return p.p.GetProviderName() }

// credentialsError: no credentials could be had, so nothing was sent.
type credentialsError struct {
	provider string
	err      error
}

func (e *credentialsError) Error() string {
	return fmt.Sprintf("credentials from %s: %s", e.provider, cleanMessage(e.err.Error()))
}

func (e *credentialsError) Unwrap() error { return e.err }

// newOIDCProvider builds the RRSA provider itself rather than through the
// SDK's default chain: the chain remembers the last provider it tried even
// when that failed, so after one failed exchange (an STS blip at start) it
// only ever asks ECS instance metadata again, and never recovers. Alone,
// the OIDC provider exchanges the token again on the next call.
func newOIDCProvider(o OIDC) (credentials.CredentialsProvider, error) {
	b := credentials.NewOIDCCredentialsProviderBuilder().
		WithRoleArn(o.RoleARN).WithOIDCProviderARN(o.ProviderARN).WithOIDCTokenFilePath(o.TokenFile).
		WithRoleSessionName("armsbot")
	if o.STSEndpoint != "" {
		b = b.WithSTSEndpoint(o.STSEndpoint)
	}
	p, err := b.Build()
	if err != nil {
		return nil, fmt.Errorf("arms: RRSA credentials: %w", err)
	}
	return p, nil
}

// Credentials fetches credentials as a call would and names where they
// came from: for bot check.
func (c *Client) Credentials() (string, error) {
	if c.creds == nil {
		return "access key", nil
	}
	_, err := c.creds.GetCredentials()
	var ce *credentialsError
	if errors.As(err, &ce) {
		return c.creds.GetProviderName(), ce
	}
	return c.creds.GetProviderName(), err
}
