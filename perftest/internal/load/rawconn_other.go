//go:build !linux

package load

import "net"

// rawConn is Linux's alone; elsewhere connections read and write as usual.
type rawConn struct{}

func newRawConn(net.Conn) *rawConn { return nil }

func (*rawConn) read(c net.Conn, b []byte) (int, error)  { return c.Read(b) }
func (*rawConn) write(c net.Conn, b []byte) (int, error) { return c.Write(b) }
