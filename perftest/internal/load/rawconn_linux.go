package load

import (
	"io"
	"net"
	"os"
	"syscall"
	"unsafe"
)

// rawConn reads and writes a TCP connection with raw system calls. The
// socket is non-blocking, so a call returns at once; the usual path
// (syscall.Read and Write) tells the scheduler of each call, and when the
// process was idle that wakes the runtime's monitor thread, which then polls
// every 20 µs for a while: at 2,000 requests a second that doubled the CPU
// per request. Waiting for the socket still goes through the poller, with
// the connection's deadline and Close.
type rawConn struct {
	rc      syscall.RawConn
	buf     []byte // what is being read into or written
	n       int
	errno   syscall.Errno
	readFn  func(fd uintptr) bool // made once: a closure per call would allocate
	writeFn func(fd uintptr) bool
}

// newRawConn returns nil when c has no file descriptor to use.
func newRawConn(c net.Conn) *rawConn {
	sc, ok := c.(syscall.Conn)
	if !ok {
		return nil
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return nil
	}
	r := &rawConn{rc: rc}
	r.readFn = func(fd uintptr) bool {
		for {
			n, _, e := syscall.RawSyscall(syscall.SYS_READ, fd, uintptr(unsafe.Pointer(&r.buf[0])), uintptr(len(r.buf)))
			switch e {
			case syscall.EINTR:
				continue
			case syscall.EAGAIN:
				return false // wait until readable
			}
			r.n, r.errno = int(n), e
			return true
		}
	}
	r.writeFn = func(fd uintptr) bool {
		for r.n < len(r.buf) {
			n, _, e := syscall.RawSyscall(syscall.SYS_WRITE, fd, uintptr(unsafe.Pointer(&r.buf[r.n])), uintptr(len(r.buf)-r.n))
			switch e {
			case 0:
				r.n += int(n)
			case syscall.EINTR:
			case syscall.EAGAIN:
				return false // wait until writable
			default:
				r.errno = e
				return true
			}
		}
		return true
	}
	return r
}

func (r *rawConn) read(c net.Conn, b []byte) (int, error) {
	if len(b) == 0 {
		return 0, nil
	}
	r.buf, r.n, r.errno = b, 0, 0
	err := r.rc.Read(r.readFn)
	n, errno := r.n, r.errno
	r.buf = nil
	switch {
	case err != nil: // closed, or past the deadline
		return 0, err
	case errno != 0:
		return 0, &net.OpError{Op: "read", Net: "tcp", Source: c.LocalAddr(), Addr: c.RemoteAddr(), Err: os.NewSyscallError("read", errno)}
	case n == 0:
		return 0, io.EOF
	}
	return n, nil
}

func (r *rawConn) write(c net.Conn, b []byte) (int, error) {
	if len(b) == 0 {
		return 0, nil
	}
	r.buf, r.n, r.errno = b, 0, 0
	err := r.rc.Write(r.writeFn)
	n, errno := r.n, r.errno
	r.buf = nil
	switch {
	case err != nil:
		return n, err
	case errno != 0:
		return n, &net.OpError{Op: "write", Net: "tcp", Source: c.LocalAddr(), Addr: c.RemoteAddr(), Err: os.NewSyscallError("write", errno)}
	}
	return n, nil
}
