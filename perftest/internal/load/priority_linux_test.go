package load

import (
	"os"
	"strconv"
	"syscall"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Every thread of the process gets the priority, and the threads the
// runtime starts later inherit it.
func TestPrioritizeSetsEveryThread(t *testing.T) {
	if os.Geteuid() != 0 {
		assert.ErrorContains(t, Prioritize(-5), "CAP_SYS_NICE", "without privilege the error says what is missing")
		return
	}
	require.NoError(t, Prioritize(-2))
	t.Cleanup(func() { _ = Prioritize(0) })
	done := make(chan struct{})
	for range 8 { // goroutines blocked in system calls make the runtime start threads
		go func() {
			var b [1]byte
			r, w, _ := os.Pipe()
			go func() { <-done; w.Close() }()
			r.Read(b[:])
			r.Close()
		}()
	}
	defer close(done)
	tasks, err := os.ReadDir("/proc/self/task")
	require.NoError(t, err)
	for _, task := range tasks {
		tid, err := strconv.Atoi(task.Name())
		require.NoError(t, err)
		prio, err := syscall.Getpriority(syscall.PRIO_PROCESS, tid)
		require.NoError(t, err)
		assert.Equal(t, 20-(-2), prio, "thread %d: the raw system call returns 20 - nice", tid)
	}
}
