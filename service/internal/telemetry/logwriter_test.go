package telemetry

import (
	"bytes"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// writes records every Write call it gets.
type writes struct {
	mu    sync.Mutex
	calls []string
}

func (w *writes) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.calls = append(w.calls, string(p))
	return len(p), nil
}

func (w *writes) get() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]string(nil), w.calls...)
}

func TestLogWriterBatchesLinesUntilTheInterval(t *testing.T) {
	var out writes
	l := NewLogWriter(&out, 50*time.Millisecond)
	defer l.Close()
	for i := range 3 {
		fmt.Fprintf(l, "line %d\n", i)
	}
	require.Eventually(t, func() bool { return len(out.get()) > 0 }, 5*time.Second, 5*time.Millisecond)
	assert.Equal(t, []string{"line 0\nline 1\nline 2\n"}, out.get(), "three lines, one write")
}

func TestLogWriterCloseFlushes(t *testing.T) {
	var out writes
	l := NewLogWriter(&out, time.Hour)
	fmt.Fprintln(l, "last words")
	assert.Empty(t, out.get())
	require.NoError(t, l.Close())
	assert.Equal(t, []string{"last words\n"}, out.get())
}

func TestLogWriterNeverSplitsALine(t *testing.T) {
	var out writes
	l := NewLogWriter(&out, time.Hour)
	line := strings.Repeat("x", 40<<10) + "\n"
	for range 5 {
		_, err := l.Write([]byte(line))
		require.NoError(t, err)
	}
	require.NoError(t, l.Close())
	for _, w := range out.get() {
		assert.Zero(t, len(w)%len(line), "every write holds whole lines")
	}
	assert.Equal(t, 5*len(line), len(strings.Join(out.get(), "")))
}

func TestLogWriterConcurrentLinesStayWhole(t *testing.T) {
	var out bytes.Buffer
	l := NewLogWriter(&out, time.Millisecond)
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 500 {
				fmt.Fprintf(l, "g%d-%d %s\n", g, i, strings.Repeat("y", 200))
			}
		}()
	}
	wg.Wait()
	require.NoError(t, l.Close())
	lines := strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n")
	require.Len(t, lines, 8*500)
	for _, line := range lines {
		require.Regexp(t, `^g\d-\d+ y{200}$`, line)
	}
}
