package telemetry

import (
	"bufio"
	"io"
	"sync"
	"time"
)

// LogWriter batches log lines into few writes: a line waits at most one
// interval, or until 64 KiB are pending. One write per access line costs
// the service about 6% of its CPU at full load (and the container runtime
// reading the pipe more); batching removes most of that. Lines written since
// the last flush are lost if the process is killed.
type LogWriter struct {
	mu  sync.Mutex
	buf *bufio.Writer

	stop chan struct{}
	done chan struct{}
}

// NewLogWriter starts flushing to w every interval, until Close.
func NewLogWriter(w io.Writer, interval time.Duration) *LogWriter {
	l := &LogWriter{
		buf:  bufio.NewWriterSize(w, 64<<10),
		stop: make(chan struct{}),
		done: make(chan struct{}),
	}
	go func() {
		defer close(l.done)
		t := time.NewTicker(interval)
		defer t.Stop()
		for {
			select {
			case <-l.stop:
				return
			case <-t.C:
				l.Flush()
			}
		}
	}()
	return l
}

// Write buffers p, which slog hands over as whole lines; a line that does
// not fit in what is left of the buffer goes out after the pending ones, so
// lines are never split between writes.
func (l *LogWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(p) > l.buf.Available() && l.buf.Buffered() > 0 {
		if err := l.buf.Flush(); err != nil {
			return 0, err
		}
	}
	return l.buf.Write(p)
}

// Flush writes out the pending lines.
func (l *LogWriter) Flush() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Flush()
}

// Close stops the periodic flush and writes out the pending lines.
func (l *LogWriter) Close() error {
	close(l.stop)
	<-l.done
	return l.Flush()
}
