package gate

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/perfgate/perfgate/perftest/internal/load"
	"github.com/perfgate/perfgate/perftest/internal/shard"
	"github.com/perfgate/perfgate/perftest/internal/stack"
	"github.com/perfgate/perfgate/thresholds"
)

// StartPassedError is a shard's start so long past that its whole schedule
// is over: there is nothing left to send.
type StartPassedError struct {
	StartAt time.Time
	Stages  time.Duration // the load's length from StartAt
	Ago     time.Duration // how long ago the stages ended
}

func (e *StartPassedError) Error() string {
	return fmt.Sprintf("%s has passed: the %s of stages from it ended %s ago", e.StartAt.Format(time.RFC3339Nano), e.Stages, e.Ago.Round(time.Second))
}

// Shard runs one shard of a sharded run: the part plan owns of the spec's
// load against its target, from the agreed instant startAt, and returns
// what the merge needs. It queries nothing: the run is judged once, after
// the merge (Settings.Merged). Progress, when set, gets the load line.
func Shard(ctx context.Context, specPath string, plan shard.Plan, startAt time.Time, progress io.Writer) (shard.Result, error) {
	raw, err := thresholds.ReadFile(specPath)
	if err != nil {
		return shard.Result{}, &BadInputError{err}
	}
	spec, err := thresholds.ParseContext(ctx, specPath, raw)
	if err != nil {
		return shard.Result{}, &BadInputError{err}
	}
	if spec.Target == nil {
		return shard.Result{}, &BadInputError{fmt.Errorf("%s: a shard loads the spec's target: the spec has no target section", specPath)}
	}
	if err := plan.Validate(); err != nil {
		return shard.Result{}, &BadInputError{fmt.Errorf("shard %s: %w", plan, err)}
	}
	if startAt.IsZero() {
		return shard.Result{}, &BadInputError{fmt.Errorf("shard %s: no start: the shards of a run start together at an agreed instant", plan)}
	}
	if ago := time.Since(startAt); ago >= spec.Load.Duration() {
		return shard.Result{}, &BadInputError{&StartPassedError{StartAt: startAt, Stages: spec.Load.Duration(), Ago: ago - spec.Load.Duration()}}
	}
	if progress != nil {
		fmt.Fprintf(progress, "shard %s of %s: load starts at %s, in %s\n", plan, specPath, startAt.Format(time.RFC3339Nano), time.Until(startAt).Round(time.Millisecond))
	}
	o := Options{Spec: spec, Progress: progress, Shard: plan, StartAt: startAt}
	res, err := applyLoad(ctx, o, &stack.Stack{Replicas: targetReplicas(spec.Target)})
	if ce := (*load.ConfigError)(nil); errors.As(err, &ce) {
		return shard.Result{}, &BadInputError{err} // a start too far ahead or long past
	}
	if err != nil {
		return shard.Result{}, err
	}
	return res.ShardResult(plan, shard.SpecHash(raw)), nil
}
