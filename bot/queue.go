package bot

import "context"

// The dispatcher runs commands on a fixed set of workers behind a bounded
// queue, so that a burst costs waiting, not memory, and a full queue is
// told to the sender.

// startWorkers runs n workers over a queue of queue jobs.
func (d *dispatcher) startWorkers(n, queue int) {
	d.jobs = make(chan func(), queue)
	for range n {
		go func() {
			for job := range d.jobs {
				job()
			}
		}()
	}
}

// stopWorkers ends the workers once no job is in flight.
func (d *dispatcher) stopWorkers() { d.stopOnce.Do(func() { close(d.jobs) }) }

// enqueue runs job on a worker, or reports false when the queue is full.
func (d *dispatcher) enqueue(job func()) bool {
	d.inflight.Add(1)
	select {
	case d.jobs <- func() { defer d.inflight.Done(); job() }:
		return true
	default:
		d.inflight.Done()
		return false
	}
}

// wait blocks until every in-flight command and delayed reply is done or
// ctx ends.
func (d *dispatcher) wait(ctx context.Context) error {
	ch := make(chan struct{})
	go func() { d.inflight.Wait(); close(ch) }()
	select {
	case <-ch:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
