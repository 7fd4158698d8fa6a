// Package workload compiles the spec's request templates into a program that fills each request into reusable buffers and keeps what the responses capture.
package workload

import (
	"bytes"
	"errors"
	"fmt"
	"math/bits"
	"math/rand/v2"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/perfgate/perfgate/thresholds"
)

// Program is a compiled workload. It is immutable: every run starts a
// Session of its own, which holds the captured values.
type Program struct {
	tmpls []tmpl
	names []string
	cum   []int // cumulative weights, in template order
	total int
	pools []string
}

// Escaping of a value in a templated string.
type escape uint8

const (
	asIs     escape = iota // headers and bodies
	segment                // in a path: one path segment, unless the value is a URL path already
	queryEsc               // in a query
)

type segKind uint8

const (
	segLit segKind = iota
	segSeq
	segRand
	segPool
)

type seg struct {
	kind segKind
	esc  escape
	lit  string
	n    int // segRand: length; segPool: the slot of the request's values
}

// text is a compiled templated string.
type text []seg

func (t text) static() bool { return len(t) == 0 || (len(t) == 1 && t[0].kind == segLit) }

type header struct {
	name  string
	value text
	fixed []byte // the value when it holds no placeholder
}

// use is a pool a request always needs.
type use struct {
	pool, slot int
	take       bool
}

// optional is a query parameter sent only some of the time.
type optional struct {
	at        int    // the index in tmpl.query
	threshold uint64 // sent when the draw, read bit-reversed, is at least this
	pools     []int
	slots     []int
}

type param struct {
	prefix string // "name="
	value  text
	opt    int // index in tmpl.opt, or -1 for always
}

type capture struct {
	pool   int
	json   []string
	header string
	isURL  bool // a Location: its path and query, inserted as they are in a path
	sticky bool // its values go back to the target that answered with them
}

// String is the capture as the spec writes it.
func (c capture) String() string {
	if c.header != "" {
		return "{header: " + c.header + "}"
	}
	return "{json: " + strings.Join(c.json, ".") + "}"
}

type tmpl struct {
	name     string
	method   string
	path     text // before the first "?"
	query    text // the path's own query, after "?"
	params   []param
	headers  []header
	body     text
	hasBody  bool
	expect   [8]uint64 // a bit per status code below 512
	need     []use
	opt      []optional
	slots    int
	captures []capture
	fallback int // -1: none
}

// Compile checks templates as the spec's loader does and compiles them.
func Compile(ws []thresholds.Template) (*Program, error) {
	if err := thresholds.ValidateWorkload(ws); err != nil {
		return nil, err
	}
	p := &Program{}
	index := map[string]int{}
	for i, w := range ws {
		index[w.Name] = i
		for _, c := range w.Capture {
			if poolIndex(p.pools, c.Pool) < 0 {
				p.pools = append(p.pools, c.Pool)
			}
		}
	}
	for _, w := range ws {
		t, err := p.compile(w, index)
		if err != nil {
			return nil, fmt.Errorf("workload: %s: %w", w.Name, err)
		}
		p.tmpls = append(p.tmpls, t)
		p.names = append(p.names, w.Name)
		p.total += w.Weight
		p.cum = append(p.cum, p.total)
	}
	if p.total <= 0 {
		return nil, errors.New("workload: every weight is 0")
	}
	return p, nil
}

func poolIndex(pools []string, name string) int {
	for i, p := range pools {
		if p == name {
			return i
		}
	}
	return -1
}

func (p *Program) compile(w thresholds.Template, index map[string]int) (tmpl, error) {
	t := tmpl{name: w.Name, method: w.Method, fallback: -1, hasBody: w.Body != ""}
	if w.Fallback != "" {
		t.fallback = index[w.Fallback]
	}
	slotOf := map[string]int{}
	slot := func(pool string) int {
		s, ok := slotOf[pool]
		if !ok {
			s = len(slotOf)
			slotOf[pool] = s
		}
		return s
	}
	need, opts := w.Pools()
	for _, pool := range need {
		t.need = append(t.need, use{pool: poolIndex(p.pools, pool), slot: slot(pool), take: contains(w.Take, pool)})
	}
	compileText := func(s string, esc escape) (text, error) {
		parts, err := thresholds.Placeholders(s)
		if err != nil {
			return nil, err
		}
		var out text
		for _, part := range parts {
			switch part.Kind {
			case thresholds.Literal:
				out = append(out, seg{kind: segLit, lit: part.Lit})
			case thresholds.Sequence:
				out = append(out, seg{kind: segSeq})
			case thresholds.Random:
				out = append(out, seg{kind: segRand, n: part.N})
			case thresholds.PoolRef:
				out = append(out, seg{kind: segPool, esc: esc, n: slot(part.Pool)})
			}
		}
		return out, nil
	}

	// The path's own query starts at its first literal "?".
	parts, err := compileText(w.Path, segment)
	if err != nil {
		return t, err
	}
	for i, s := range parts {
		if s.kind != segLit {
			continue
		}
		if k := strings.IndexByte(s.lit, '?'); k >= 0 {
			t.path = append(append(text{}, parts[:i]...), seg{kind: segLit, lit: s.lit[:k]})
			t.query = append(text{seg{kind: segLit, lit: s.lit[k+1:]}}, parts[i+1:]...)
			for j := range t.query {
				if t.query[j].kind == segPool {
					t.query[j].esc = queryEsc
				}
			}
			break
		}
	}
	if t.path == nil {
		t.path = parts
	}

	for _, q := range w.Query {
		v, err := compileText(q.Value, queryEsc)
		if err != nil {
			return t, err
		}
		pr := param{prefix: q.Name + "=", value: v, opt: -1}
		if q.Chance > 0 {
			o := optional{at: len(t.params), threshold: chanceThreshold(q.Chance)}
			for _, pool := range opts[len(t.opt)] {
				o.pools = append(o.pools, poolIndex(p.pools, pool))
				o.slots = append(o.slots, slot(pool))
			}
			pr.opt = len(t.opt)
			t.opt = append(t.opt, o)
		}
		t.params = append(t.params, pr)
	}
	for _, h := range w.Headers {
		v, err := compileText(h.Value, asIs)
		if err != nil {
			return t, err
		}
		hd := header{name: h.Name, value: v}
		if v.static() {
			hd.fixed = []byte(h.Value)
			if len(v) == 1 {
				hd.fixed = []byte(v[0].lit) // "$$" is "$"
			}
		}
		t.headers = append(t.headers, hd)
	}
	if t.body, err = compileText(w.Body, asIs); err != nil {
		return t, err
	}
	t.slots = len(slotOf)

	if w.Expect == nil {
		for c := 200; c < 300; c++ {
			t.expect[c/64] |= 1 << (c % 64)
		}
	}
	for _, c := range w.Expect {
		if c >= 0 && c < 500 {
			t.expect[c/64] |= 1 << (c % 64)
		}
	}
	for _, c := range w.Capture {
		cp := capture{pool: poolIndex(p.pools, c.Pool), header: c.Header, sticky: c.Sticky}
		if c.JSON != "" {
			cp.json = strings.Split(c.JSON, ".")
		}
		cp.isURL = strings.EqualFold(c.Header, "Location") || strings.EqualFold(c.Header, "Content-Location")
		t.captures = append(t.captures, cp)
	}
	return t, nil
}

func contains(xs []string, x string) bool {
	for _, y := range xs {
		if y == x {
			return true
		}
	}
	return false
}

// chanceThreshold turns a chance in (0, 1] into the least bit-reversed draw
// that sends the parameter: a chance of 50% sends it when the draw's lowest
// bit is set.
func chanceThreshold(c float64) uint64 {
	if c >= 1 {
		return 0
	}
	return uint64((1 - c) * (1 << 63) * 2)
}

// Names are the templates' names in the spec's order; a request's Template
// indexes them.
func (p *Program) Names() []string { return p.names }

// Pick draws a template by weight.
func (p *Program) Pick(rng *rand.Rand) int {
	n := rng.IntN(p.total)
	for i, limit := range p.cum {
		if n < limit {
			return i
		}
	}
	return len(p.cum) - 1 // unreachable: n < total == cum[last]
}

// value is one captured value.
type value struct {
	s     string
	isURL bool // a path and query already: inserted into a path as it is
	from  int  // 1 + the target a sticky capture took it from; 0: any target
}

// pool holds the values of one name, at most thresholds.PoolSize of them.
type pool struct{ vals []value }

// add keeps v; once the pool is full, it replaces the value at rnd.
func (p *pool) add(v value, rnd uint64) {
	if len(p.vals) < thresholds.PoolSize {
		p.vals = append(p.vals, v)
	} else {
		p.vals[rnd%thresholds.PoolSize] = v
	}
}

// pick returns the value at rnd, removing it when take is set.
func (p *pool) pick(rnd uint64, take bool) value {
	n := uint64(len(p.vals))
	i := rnd % n
	v := p.vals[i]
	if take {
		last := n - 1
		p.vals[i] = p.vals[last]
		p.vals[last] = value{}
		p.vals = p.vals[:last]
	}
	return v
}

// Session is one run of a program: the values its responses captured.
// Its methods may be called from many goroutines at once.
type Session struct {
	p     *Program
	mu    sync.Mutex
	pools []pool
	// Per template and capture: the expected responses it was tried on,
	// how many gave a value, and what the first body it found nothing in
	// held (see Why).
	tried, got [][]atomic.Int64
	missed     [][]atomic.Pointer[string]
}

// Start begins a session with empty pools.
func (p *Program) Start() *Session {
	s := &Session{p: p, pools: make([]pool, len(p.pools)),
		tried: make([][]atomic.Int64, len(p.tmpls)), got: make([][]atomic.Int64, len(p.tmpls)),
		missed: make([][]atomic.Pointer[string], len(p.tmpls))}
	for i := range s.pools {
		s.pools[i].vals = make([]value, 0, 64)
	}
	for ti, t := range p.tmpls {
		s.tried[ti], s.got[ti] = make([]atomic.Int64, len(t.captures)), make([]atomic.Int64, len(t.captures))
		s.missed[ti] = make([]atomic.Pointer[string], len(t.captures))
	}
	return s
}

// Why says why requests of template ti went as its fallback: the pools it
// always uses that are empty, and what the captures that fill them got.
// "" when none of its pools is empty.
func (s *Session) Why(ti int) string {
	t := &s.p.tmpls[ti]
	var out []string
	for _, u := range t.need {
		s.mu.Lock()
		n := len(s.pools[u.pool].vals)
		s.mu.Unlock()
		if n > 0 {
			continue
		}
		name := s.p.pools[u.pool]
		var fills []string
		for oi := range s.p.tmpls {
			for ci, c := range s.p.tmpls[oi].captures {
				if c.pool == u.pool {
					fill := fmt.Sprintf("%s's capture %s: %s got a value from %d of %d expected responses",
						s.p.names[oi], name, c, s.got[oi][ci].Load(), s.tried[oi][ci].Load())
					if m := s.missed[oi][ci].Load(); m != nil && s.got[oi][ci].Load() == 0 {
						fill += ", " + *m
					}
					fills = append(fills, fill)
				}
			}
		}
		why := fmt.Sprintf("pool %s is empty", name)
		if len(fills) > 0 {
			why += " (" + strings.Join(fills, "; ") + ")"
		}
		out = append(out, why)
	}
	return strings.Join(out, "; ")
}

// Len is how many values the named pool holds.
func (s *Session) Len(name string) int {
	i := poolIndex(s.p.pools, name)
	if i < 0 {
		return 0
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.pools[i].vals)
}

// Header is a request header of a built Request.
type Header struct {
	Name  string
	Value []byte
}

// Request is one request built from a template. A worker keeps one and
// builds every request it sends into it; what it holds is valid until the
// next Build.
type Request struct {
	Template int // the template sent, after any fallback
	Planned  int // the template drawn, before any fallback
	// Pinned is the target the request must go to, the one that answered
	// with a sticky value it uses; -1: any. The sender sets SentTo.
	Pinned, SentTo int
	// Carried: the request holds a value of a capture that is not sticky,
	// which a replica that does not share state may never have made.
	Carried bool
	Method  string
	Path    []byte // escaped, without the query
	Query   []byte // without "?"; empty for none
	Headers []Header
	Body    []byte // nil for none

	rnd      uint64
	vals     []value
	have     []bool
	optOn    []bool
	headBuf  []byte
	headEnds []int
	bodyBuf  []byte
}

// draw is the k-th random number of a request: its own for k = 0, mixed
// from it after that.
func draw(rnd uint64, k int) uint64 {
	if k == 0 {
		return rnd
	}
	z := rnd + uint64(k)*0x9e3779b97f4a7c15
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	return z ^ (z >> 31)
}

// Build fills rq from template ti for arrival seq, with randomness rnd: its
// pools' values are drawn (and taken) now. While a pool the template always
// uses is empty, its fallback is built instead.
func (s *Session) Build(rq *Request, ti int, seq, rnd uint64) {
	p := s.p
	t := &p.tmpls[ti]
	rq.rnd, rq.Planned = rnd, ti
	if len(t.need) > 0 || len(t.opt) > 0 {
		s.mu.Lock()
		for hops := 0; hops < len(p.tmpls) && t.fallback >= 0 && !s.haveAll(t.need); hops++ {
			ti = t.fallback
			t = &p.tmpls[ti]
		}
		s.draw(rq, t)
		s.mu.Unlock()
	}
	rq.Template = ti
	rq.Method = t.method
	rq.Pinned, rq.Carried = -1, false
	for i := range t.slots {
		switch {
		case !rq.have[i]:
		case rq.vals[i].from == 0:
			rq.Carried = true
		case rq.Pinned < 0:
			rq.Pinned = rq.vals[i].from - 1
		}
	}

	rs := randState(rnd ^ 0xda942042e4dd58b5)
	rq.Path = rq.render(rq.Path[:0], t.path, seq, &rs)
	q := rq.Query[:0]
	if i := bytes.IndexByte(rq.Path, '?'); i >= 0 { // a Location's query
		q = append(q, rq.Path[i+1:]...)
		rq.Path = rq.Path[:i]
	}
	if len(t.query) > 0 {
		before := len(q)
		if before > 0 {
			q = append(q, '&')
		}
		if q = rq.render(q, t.query, seq, &rs); len(q) == before+1 && before > 0 {
			q = q[:before] // the path's own query was empty
		}
	}
	for i := range t.params {
		pr := &t.params[i]
		if pr.opt >= 0 && !rq.optOn[pr.opt] {
			continue
		}
		if len(q) > 0 {
			q = append(q, '&')
		}
		q = append(q, pr.prefix...)
		q = rq.render(q, pr.value, seq, &rs)
	}
	rq.Query = q

	// Header values are rendered into one buffer first, then sliced, so
	// that growing it cannot leave a value behind.
	hb, ends := rq.headBuf[:0], rq.headEnds[:0]
	for i := range t.headers {
		if h := &t.headers[i]; h.fixed == nil {
			hb = rq.render(hb, h.value, seq, &rs)
			ends = append(ends, len(hb))
		}
	}
	rq.headBuf, rq.headEnds = hb, ends
	rq.Headers = rq.Headers[:0]
	start, k := 0, 0
	for i := range t.headers {
		h := &t.headers[i]
		v := h.fixed
		if v == nil {
			v = hb[start:ends[k]:ends[k]]
			start = ends[k]
			k++
		}
		rq.Headers = append(rq.Headers, Header{Name: h.name, Value: v})
	}

	rq.Body = nil
	if t.hasBody {
		rq.bodyBuf = rq.render(rq.bodyBuf[:0], t.body, seq, &rs)
		rq.Body = rq.bodyBuf
	}
}

// haveAll tells whether every pool in need holds a value; s.mu is held.
func (s *Session) haveAll(need []use) bool {
	for _, u := range need {
		if len(s.pools[u.pool].vals) == 0 {
			return false
		}
	}
	return true
}

// draw picks the request's pool values for t; s.mu is held. The pools t
// always needs take the request's draws 0, 1, ...; each optional parameter
// takes the next one, its lowest bits deciding whether it is sent and the
// rest which value it uses.
func (s *Session) draw(rq *Request, t *tmpl) {
	rq.vals = grow(rq.vals, t.slots)
	rq.have = growBool(rq.have, t.slots)
	rq.optOn = growBool(rq.optOn, len(t.opt))
	clear(rq.have)
	for i, u := range t.need {
		if len(s.pools[u.pool].vals) == 0 {
			rq.vals[u.slot] = value{} // only when the spec's checks were skipped
			continue
		}
		rq.vals[u.slot] = s.pools[u.pool].pick(draw(rq.rnd, i), u.take)
		rq.have[u.slot] = true
	}
	for j := range t.opt {
		o := &t.opt[j]
		d := draw(rq.rnd, len(t.need)+j)
		on := bits.Reverse64(d) >= o.threshold
		for k, pl := range o.pools {
			if !rq.have[o.slots[k]] && len(s.pools[pl].vals) == 0 {
				on = false
			}
		}
		rq.optOn[j] = on
		if !on {
			continue
		}
		for k, pl := range o.pools {
			if sl := o.slots[k]; !rq.have[sl] {
				rq.vals[sl] = s.pools[pl].pick(draw(d, k)>>1, false)
				rq.have[sl] = true
			}
		}
	}
}

func grow(v []value, n int) []value {
	if cap(v) < n {
		return make([]value, n)
	}
	return v[:n]
}

func growBool(v []bool, n int) []bool {
	if cap(v) < n {
		return make([]bool, n)
	}
	return v[:n]
}

// randState is the stream ${rand:N} draws from, seeded by the request's
// randomness so that it too follows the run's seed.
type randState uint64

func (r *randState) next() uint64 {
	*r += 0x9e3779b97f4a7c15
	z := uint64(*r)
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	return z ^ (z >> 31)
}

const alphabet = "abcdefghijklmnopqrstuvwxyz0123456789"

// render appends t to b.
func (rq *Request) render(b []byte, t text, seq uint64, rs *randState) []byte {
	for i := range t {
		sg := &t[i]
		switch sg.kind {
		case segLit:
			b = append(b, sg.lit...)
		case segSeq:
			b = strconv.AppendUint(b, seq, 10)
		case segRand:
			for range sg.n {
				b = append(b, alphabet[rs.next()%uint64(len(alphabet))])
			}
		case segPool:
			v := rq.vals[sg.n]
			switch {
			case sg.esc == asIs || (sg.esc == segment && v.isURL):
				b = append(b, v.s...)
			case sg.esc == segment:
				b = appendEscaped(b, v.s, false)
			default:
				b = appendEscaped(b, v.s, true)
			}
		}
	}
	return b
}

// Peeker reads a response header by name; fasthttp's response header is one.
type Peeker interface {
	Peek(name string) []byte
}

// Expects reports whether template ti counts status as success.
func (p *Program) Expects(ti, status int) bool {
	return status >= 0 && status < 500 && p.tmpls[ti].expect[status/64]&(1<<(status%64)) != 0
}

// Done hands the response to rq back: when its status is one the template
// expects, the values it captures go into their pools. It reports whether
// the status was expected.
func (s *Session) Done(rq *Request, status int, body []byte, h Peeker) bool {
	if !s.p.Expects(rq.Template, status) {
		return false
	}
	t := &s.p.tmpls[rq.Template]
	for ci := range t.captures {
		c := &t.captures[ci]
		s.tried[rq.Template][ci].Add(1)
		var v value
		if c.header != "" {
			if h == nil {
				continue
			}
			raw := h.Peek(c.header)
			if len(raw) == 0 {
				continue
			}
			if c.isURL {
				if raw = urlPath(raw); !pathRef(raw) {
					continue // relative or malformed: no path to send a request to
				}
			}
			v = value{s: string(raw), isURL: c.isURL}
		} else {
			got, ok := jsonValue(body, c.json)
			if !ok {
				if s.missed[rq.Template][ci].Load() == nil {
					m := jsonShape(body)
					s.missed[rq.Template][ci].CompareAndSwap(nil, &m)
				}
				continue
			}
			v = value{s: got}
		}
		if c.sticky {
			v.from = rq.SentTo + 1
		}
		s.got[rq.Template][ci].Add(1)
		s.mu.Lock()
		s.pools[c.pool].add(v, draw(rq.rnd, ci)>>8)
		s.mu.Unlock()
	}
	return true
}

// pathRef reports whether a Location's path and query can go into a
// request line as they are: an absolute path, without spaces, control
// characters or a fragment.
func pathRef(p []byte) bool {
	if len(p) == 0 || p[0] != '/' {
		return false
	}
	for _, c := range p {
		if c <= ' ' || c == 0x7f || c == '#' {
			return false
		}
	}
	return true
}

// urlPath keeps the path and query of a URL reference: requests go to the
// run's targets, whatever host a Location names.
func urlPath(u []byte) []byte {
	s := string(u) // no copy: only searched
	for _, scheme := range []string{"http://", "https://", "//"} {
		if len(s) >= len(scheme) && strings.EqualFold(s[:len(scheme)], scheme) {
			rest := u[len(scheme):]
			for i, c := range rest {
				if c == '/' || c == '?' {
					if c == '?' {
						return append([]byte{'/'}, rest[i:]...)
					}
					return rest[i:]
				}
			}
			return []byte{'/'}
		}
	}
	return u
}
