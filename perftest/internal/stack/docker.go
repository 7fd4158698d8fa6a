package stack

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"syscall"

	"github.com/moby/moby/client"
	"github.com/testcontainers/testcontainers-go"
)

// provider returns a testcontainers Docker provider. It reads no
// environment and sets none: what testcontainers takes only from the
// environment on a machine without a registry (Ryuk off, the daemon's host
// on loopback) a door sets once, before the first call (see
// perftest/internal/door).
func provider() (*testcontainers.DockerProvider, error) {
	p, err := testcontainers.NewDockerProvider()
	if err != nil {
		return nil, fmt.Errorf("%w (%v): start the Docker engine or set DOCKER_HOST", ErrNoDocker, err)
	}
	return p, nil
}

// engineCPUs is how many CPUs the Docker engine's host has, the CPUs a
// replica can be pinned to; 0 with the reason when it cannot pin (rootless
// engines often lack the cpuset controller).
func engineCPUs(ctx context.Context) (int, string) {
	p, err := provider()
	if err != nil {
		return 0, err.Error()
	}
	defer p.Close()
	res, err := p.Client().Info(ctx, client.InfoOptions{})
	switch {
	case err != nil:
		return 0, fmt.Sprintf("the Docker engine did not say how many CPUs it has (%v)", err)
	case !res.Info.CPUSet:
		return 0, "the Docker engine cannot pin a container to CPUs (no cpuset cgroup controller)"
	case res.Info.NCPU < 1:
		return 0, fmt.Sprintf("the Docker engine reports %d CPUs", res.Info.NCPU)
	}
	return res.Info.NCPU, ""
}

// ErrNoDocker means no Docker engine answered.
var ErrNoDocker = errors.New("docker is not reachable")

// Ping reports whether a Docker engine answers, with advice when it does not.
func Ping(ctx context.Context) error {
	p, err := provider()
	if err != nil {
		return err
	}
	defer p.Close()
	if err := p.Health(ctx); err != nil {
		host := p.Client().DaemonHost() // DOCKER_HOST, or the socket testcontainers found
		return fmt.Errorf("%w at %s (%v): start it or set DOCKER_HOST", ErrNoDocker, host, err)
	}
	return nil
}

// Sweep removes containers, networks and volumes that earlier runs on this
// host left behind when their process died (a crash, a kill -9). Runs whose
// process is alive are left alone, so concurrent runs do not hurt each other.
func Sweep(ctx context.Context) (removed int, err error) {
	p, err := provider()
	if err != nil {
		return 0, err
	}
	defer p.Close()
	c := p.Client()
	host, _ := os.Hostname()
	f := make(client.Filters).Add("label", LabelRun)
	stale := func(labels map[string]string) bool {
		if labels[LabelHost] != host {
			return false
		}
		pid, err := strconv.Atoi(labels[LabelPID])
		return err == nil && !alive(pid)
	}
	var errs []error
	cs, err := c.ContainerList(ctx, client.ContainerListOptions{All: true, Filters: f})
	if err != nil {
		return 0, fmt.Errorf("listing containers: %w", err)
	}
	for _, ct := range cs.Items {
		if stale(ct.Labels) {
			if _, err := c.ContainerRemove(ctx, ct.ID, client.ContainerRemoveOptions{Force: true, RemoveVolumes: true}); err != nil {
				errs = append(errs, err)
			} else {
				removed++
			}
		}
	}
	ns, err := c.NetworkList(ctx, client.NetworkListOptions{Filters: f})
	if err != nil {
		return removed, fmt.Errorf("listing networks: %w", err)
	}
	for _, n := range ns.Items {
		if stale(n.Labels) {
			if _, err := c.NetworkRemove(ctx, n.ID, client.NetworkRemoveOptions{}); err != nil {
				errs = append(errs, err)
			} else {
				removed++
			}
		}
	}
	vs, err := c.VolumeList(ctx, client.VolumeListOptions{Filters: f})
	if err != nil {
		return removed, fmt.Errorf("listing volumes: %w", err)
	}
	for _, v := range vs.Items {
		if stale(v.Labels) {
			if _, err := c.VolumeRemove(ctx, v.Name, client.VolumeRemoveOptions{Force: true}); err != nil {
				errs = append(errs, err)
			} else {
				removed++
			}
		}
	}
	return removed, errors.Join(errs...)
}

// Leftovers counts the containers, networks and volumes that carry label=value,
// e.g. LabelRun and a run's ID.
func Leftovers(ctx context.Context, label, value string) (int, error) {
	p, err := provider()
	if err != nil {
		return 0, err
	}
	defer p.Close()
	c := p.Client()
	f := make(client.Filters).Add("label", label+"="+value)
	cs, err := c.ContainerList(ctx, client.ContainerListOptions{All: true, Filters: f})
	if err != nil {
		return 0, err
	}
	ns, err := c.NetworkList(ctx, client.NetworkListOptions{Filters: f})
	if err != nil {
		return 0, err
	}
	vs, err := c.VolumeList(ctx, client.VolumeListOptions{Filters: f})
	if err != nil {
		return 0, err
	}
	return len(cs.Items) + len(ns.Items) + len(vs.Items), nil
}

func alive(pid int) bool {
	err := syscall.Kill(pid, 0)
	return err == nil || errors.Is(err, syscall.EPERM)
}
