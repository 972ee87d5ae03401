package natsjs

import (
	"context"
	"errors"
	"strconv"

	"github.com/nats-io/nats.go/jetstream"
)

// checkpointKey is the key of the views bucket that holds the projector's checkpoint.
const checkpointKey = "projector.checkpoint"

// checkpoint is the projector's position in the event stream, kept in the views bucket (key
// projector.checkpoint): the last stream sequence whose views are written. A projector that
// starts reads the events after it. It is written one write at a time, each conditional on
// the revision the one before made; when another projector has moved it meanwhile (a lease
// taken over from one that still runs), its value is read and the write made again, so the
// checkpoint never moves back.
//
// Writes go through the projector's [viewWriter], pipelined with the views' writes, and
// [checkpoint.settle] takes their acknowledgements in; [checkpoint.write] writes at once.
// Only the projector's goroutine uses it.
type checkpoint struct {
	kv jetstream.KeyValue
	w  *viewWriter
	// onMove, when set, is told the checkpoint each time a write of it is settled (Rebuild
	// reports its progress so).
	onMove func(seq uint64)

	seq uint64 // the sequence the key claims, as this projector last wrote or read it
	rev uint64 // the key's revision then (0: the key has no value)

	// inFlight: a write claiming claim, token token of w, awaits its acknowledgement.
	inFlight bool
	token    uint64
	claim    uint64

	body []byte // scratch space of settle
}

// ckWait says how long [checkpoint.settle] waits.
type ckWait int

const (
	ckNoWait       ckWait = iota // for nothing
	ckWaitPrevious               // for the write in flight, so as to write a newer one now
	ckWaitAll                    // for the checkpoint to claim every acknowledged write
)

// read takes the stored checkpoint and its revision (0 and 0 when there is none).
func (c *checkpoint) read(ctx context.Context) error {
	e, err := c.kv.Get(ctx, checkpointKey)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		c.seq, c.rev = 0, 0
		return nil
	}
	if err != nil {
		return err
	}
	seq, err := strconv.ParseUint(string(e.Value()), 10, 64)
	if err != nil {
		return err
	}
	c.seq, c.rev = seq, e.Revision()
	return nil
}

// forget gives up the write in flight, whose acknowledgement the view writer has abandoned:
// if it was stored after all, the next write's condition fails and [checkpoint.write] reads it.
func (c *checkpoint) forget() { c.inFlight = false }

// settle takes in the acknowledgement of the write in flight and, when acked (the last
// sequence whose views' writes, and all earlier ones', are acknowledged) has gone past the
// checkpoint, writes it again. If the last write's acknowledgement has not arrived, it waits
// for it when wait is at least ckWaitPrevious, and otherwise leaves the new write to a later
// call; with ckWaitAll it also waits for the acknowledgement of the new write. The checkpoint
// never claims a sequence past acked, and never moves back.
func (c *checkpoint) settle(ctx context.Context, acked uint64, wait ckWait) error {
	for {
		if c.inFlight {
			if !c.w.done(c.token) {
				if wait == ckNoWait {
					return nil
				}
				if err := c.w.wait(ctx, c.token+1); err != nil {
					return err
				}
			}
			res := c.w.result(c.token)
			c.inFlight = false
			if res.err != nil {
				// Another projector moved it, or the write was lost: the synchronous
				// write reads what is there and goes on from it.
				if err := c.write(ctx, c.claim); err != nil {
					return err
				}
			} else {
				c.seq, c.rev = c.claim, res.seq
			}
			c.moved()
		}
		if acked <= c.seq {
			return nil
		}
		if c.rev == 0 {
			// The first checkpoint: create the key (over a deleted value, if need be).
			if err := c.write(ctx, acked); err != nil {
				return err
			}
			c.moved()
			continue
		}
		var err error
		c.body = strconv.AppendUint(c.body[:0], acked, 10)
		if c.token, err = c.w.publish(viewsSubjectPrefix+checkpointKey, c.body, c.rev); err != nil {
			return err
		}
		c.inFlight, c.claim = true, acked
		if wait != ckWaitAll {
			return nil
		}
	}
}

// write records, synchronously, that the views include every event up to seq. It never
// moves the checkpoint back.
func (c *checkpoint) write(ctx context.Context, seq uint64) error {
	for {
		if seq <= c.seq {
			return nil
		}
		value := []byte(strconv.FormatUint(seq, 10))
		var rev uint64
		var err error
		if c.rev == 0 {
			rev, err = c.kv.Create(ctx, checkpointKey, value)
		} else {
			rev, err = c.kv.Update(ctx, checkpointKey, value, c.rev)
		}
		if err == nil {
			c.seq, c.rev = seq, rev
			return nil
		}
		if !isRevisionConflict(err) {
			return err
		}
		// Another projector moved it: take its value and revision, and go again.
		if err := c.read(ctx); err != nil {
			return err
		}
	}
}

func (c *checkpoint) moved() {
	if c.onMove != nil {
		c.onMove(c.seq)
	}
}
