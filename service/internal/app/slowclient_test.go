package app

import (
	"bufio"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// slowloris sends headers one byte every 50ms for 2s and reports whether
// the server hung up on it, while checking a normal client is served meanwhile.
func slowloris(t *testing.T, timeouts Timeouts) (cut bool, after time.Duration) {
	h := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "ok") })
	srv := newServer(h, slog.New(slog.NewTextHandler(io.Discard, nil)), timeouts)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })

	slow, err := net.Dial("tcp", ln.Addr().String())
	require.NoError(t, err)
	defer slow.Close()
	start := time.Now()
	for i, b := range []byte("GET / HTTP/1.1\r\nHost: x\r\nX-Slow: " + strings.Repeat("a", 16)) {
		if _, err := slow.Write([]byte{b}); err != nil {
			return true, time.Since(start)
		}
		if i == 5 {
			resp, err := http.Get("http://" + ln.Addr().String() + "/")
			require.NoError(t, err)
			resp.Body.Close()
			assert.Equal(t, http.StatusOK, resp.StatusCode, "a normal client must be served meanwhile")
		}
		time.Sleep(50 * time.Millisecond)
	}
	// Writes can succeed into a closed connection's buffer; reading tells.
	_ = slow.SetReadDeadline(time.Now().Add(500 * time.Millisecond))
	line, err := bufio.NewReader(slow).ReadString('\n')
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return false, time.Since(start) // still open, still waiting for the headers
	}
	return err != nil || strings.Contains(line, " 408 "), time.Since(start)
}

func TestSlowClientsAreCutOff(t *testing.T) {
	assert.Positive(t, DefaultTimeouts.ReadHeader, "the service must bound header reads")
	assert.Positive(t, DefaultTimeouts.Read, "the service must bound body reads")

	cut, after := slowloris(t, Timeouts{ReadHeader: 300 * time.Millisecond, Read: time.Second, Write: time.Second, Idle: time.Second})
	assert.True(t, cut, "a client trickling its headers kept the connection")
	assert.Less(t, after, 1500*time.Millisecond, "the slow client was cut off late")
}

func TestWithoutAHeaderTimeoutSlowClientsStay(t *testing.T) {
	cut, _ := slowloris(t, Timeouts{})
	assert.False(t, cut, "twin: with no timeouts the trickling client must keep its connection, or the test above proves nothing")
}
