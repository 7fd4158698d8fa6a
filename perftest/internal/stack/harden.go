package stack

import (
	"archive/tar"
	"bytes"
	"context"
	"fmt"
	"io"
	"strings"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/mount"
	"github.com/moby/moby/client"
	"github.com/testcontainers/testcontainers-go"
)

// Every container the gate starts runs as a user other than root, with no
// capabilities, no way to gain privileges (no-new-privileges), a read-only
// root filesystem and bounded memory and process counts; what it writes goes
// to a tmpfs or a volume. A runaway service hits its own limits, not the
// machine's, and a compromised one holds nothing to escalate with.

// Users the containers run as: the reference service's (its image says so)
// and nobody, as upstream Prometheus and VictoriaMetrics images run.
const (
	serviceUser = "65532:65532"
	storeUser   = "65534:65534"
)

// limits bound one container.
type limits struct {
	memory int64 // bytes, tmpfs included; swap is not allowed beyond it
	pids   int64 // processes and threads
}

var (
	// replicaLimits bound a replica of the service under test.
	replicaLimits = limits{memory: 1 << 30, pids: 1024}
	// storeLimits bound Prometheus or VictoriaMetrics, whose data lives on a
	// tmpfs that counts against memory.
	storeLimits = limits{memory: 1 << 30, pids: 512}
)

// hardened is the HostConfig of a container the gate starts: tmpfs maps
// each writable directory to its mount options, config is a directory that
// gets an anonymous volume (removed with the container) so files can be
// copied into it before the start, which a read-only root refuses.
func hardened(l limits, tmpfs map[string]string, config ...string) func(*container.HostConfig) {
	return func(hc *container.HostConfig) {
		hc.CapDrop = []string{"ALL"}
		hc.CapAdd = nil
		hc.Privileged = false
		hc.SecurityOpt = append(hc.SecurityOpt, "no-new-privileges:true")
		hc.ReadonlyRootfs = true
		if len(tmpfs) > 0 {
			if hc.Tmpfs == nil {
				hc.Tmpfs = map[string]string{}
			}
			for dir, opts := range tmpfs {
				hc.Tmpfs[dir] = opts
			}
		}
		for _, dir := range config {
			hc.Mounts = append(hc.Mounts, mount.Mount{Type: mount.TypeVolume, Target: dir})
		}
		hc.Memory = l.memory
		hc.MemorySwap = l.memory
		pids := l.pids
		hc.PidsLimit = &pids
	}
}

// asUser runs the container as user.
func asUser(user string) func(*container.Config) {
	return func(c *container.Config) { c.User = user }
}

// imageUser is the user image runs as, "" when the engine cannot tell.
func imageUser(ctx context.Context, image string) string {
	p, err := provider()
	if err != nil {
		return ""
	}
	defer p.Close()
	in, err := p.Client().ImageInspect(ctx, image)
	if err != nil || in.Config == nil {
		return ""
	}
	return in.Config.User
}

// tmpfsFor is the mount options of a writable tmpfs of size for user:
// owned by user when its ids are numbers (some engines ignore a tmpfs's
// mode), else open to all with the sticky bit.
func tmpfsFor(user, size string) string {
	opts := "rw,noexec,nosuid,nodev,mode=1777,size=" + size
	uid, gid, _ := strings.Cut(user, ":")
	if isNumber(uid) {
		opts += ",uid=" + uid
		if isNumber(gid) {
			opts += ",gid=" + gid
		}
	}
	return opts
}

func isNumber(s string) bool {
	return s != "" && strings.Trim(s, "0123456789") == ""
}

// isRoot tells whether a Dockerfile USER (or its absence) means root.
func isRoot(user string) bool {
	name, _, _ := strings.Cut(user, ":")
	return name == "" || name == "0" || name == "root"
}

// withFileIn copies content into the container, before it starts, as the
// file name in dir: a directory that hardened gives a volume, since the
// engine copies nothing onto a read-only root (testcontainers' WithFiles
// copies onto "/").
func withFileIn(dir, name, content string) testcontainers.CustomizeRequestOption {
	return testcontainers.WithAdditionalLifecycleHooks(testcontainers.ContainerLifecycleHooks{
		PostCreates: []testcontainers.ContainerHook{func(ctx context.Context, c testcontainers.Container) error {
			var buf bytes.Buffer
			tw := tar.NewWriter(&buf)
			if err := tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: int64(len(content)), Typeflag: tar.TypeReg}); err != nil {
				return err
			}
			if _, err := io.WriteString(tw, content); err != nil {
				return err
			}
			if err := tw.Close(); err != nil {
				return err
			}
			p, err := provider()
			if err != nil {
				return err
			}
			defer p.Close()
			if _, err := p.Client().CopyToContainer(ctx, c.GetContainerID(), client.CopyToContainerOptions{DestinationPath: dir, Content: &buf}); err != nil {
				return fmt.Errorf("copying %s into %s: %w", name, dir, err)
			}
			return nil
		}},
	})
}
