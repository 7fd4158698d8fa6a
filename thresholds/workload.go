package thresholds

import (
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// Template is one kind of request of the workload. Each arrival of the load
// picks a template by weight and fills in its placeholders:
//
//	${seq}      the arrival's number in the run, from 0
//	${rand:N}   N random letters and digits
//	${pool}     a value an earlier response left in the named pool (see Capture)
//	$$          a literal $
//
// In the path, a captured value is escaped as one path segment, except one
// from a Location (or Content-Location) header, a path and query already,
// which goes in as it is; in a query every value is query-escaped; in headers
// and the body values go in as they are.
// One request uses one value of each pool wherever it names the pool.
type Template struct {
	Name     string   `yaml:"name"`
	Weight   int      `yaml:"weight"` // relative to the other templates; 0: sent only as another's fallback
	Method   string   `yaml:"method"` // GET when left out
	Path     string   `yaml:"path"`   // like /tasks/${task}; may carry a query after "?"
	Query    Params   `yaml:"query" want:"a mapping of parameter names to values like {limit: 20}"`
	Headers  Headers  `yaml:"headers" want:"a mapping of header names to values like {Content-Type: application/json}"`
	Body     string   `yaml:"body"`                                                                      // "" for none
	Expect   []int    `yaml:"expect" spec:"one" want:"a status code or a list of them, like [200, 404]"` // the status codes that count as success; nil: any 2xx
	Capture  Captures `yaml:"capture" want:"a mapping of pool names to sources like {task: {json: id}}"`
	Take     []string `yaml:"take" spec:"one" want:"a pool name or a list of them"` // pools whose value the request removes: a delete
	Fallback string   `yaml:"fallback"`                                             // the template sent instead while a pool the request needs is empty

	Line, Col int // where the template starts in the file
}

// Param is a query parameter added after the path's own query, in order.
type Param struct {
	Name  string // the key it is written under
	Value string `yaml:"value"`
	// Chance 0 means the parameter is always sent and the pools its value
	// names must hold a value (or the fallback is sent). Above 0, it is sent
	// that share of the time (1 = 100%), and only when its pools hold a value:
	// a cursor to page from, say.
	Chance float64 `yaml:"chance" unit:"ratio" want:"expected a percentage like 50%"`
}

// Header is a request header; its value may hold placeholders.
type Header struct{ Name, Value string }

// Capture keeps a value of a response with an expected status in a pool:
// the JSON field JSON (dotted for nested objects, like data.id, with numbers
// indexing arrays, like items.0.id; a string or a number) or the header
// Header (of a Location, the path and query only). A pool
// keeps at most PoolSize values; beyond that a new one replaces a random one.
type Capture struct {
	Pool   string // the key it is written under
	JSON   string `yaml:"json"`
	Header string `yaml:"header"`
	// Sticky sends a request that uses a value back to the replica that
	// answered with it: for replicas that do not share state.
	Sticky bool `yaml:"sticky"`
}

// PoolSize bounds the values a pool keeps.
const PoolSize = 8192

// DefaultTemplate holds the values used for template fields the file leaves
// out; a left-out expect means any 2xx.
var DefaultTemplate = Template{Weight: 1, Method: "GET"}

// Methods are the request methods a template may use.
var Methods = []string{"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"}

// Bounds of a workload.
const (
	maxTemplates = 100
	maxRandLen   = 256
	maxWeight    = 1_000_000 // so that the weights of maxTemplates add up without overflow
)

// PartKind says what a Part of a templated string is.
type PartKind uint8

// The kinds of Part.
const (
	Literal  PartKind = iota // Lit as it is
	Sequence                 // ${seq}
	Random                   // ${rand:N}
	PoolRef                  // ${pool}
)

// Part is a piece of a templated string.
type Part struct {
	Kind PartKind
	Lit  string // Literal
	N    int    // Random: the length
	Pool string // PoolRef
}

// reserved names are placeholders, never pools.
var reserved = []string{"seq", "rand"}

var (
	headerNameRe = regexp.MustCompile("^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")
	jsonFieldRe  = regexp.MustCompile(`^[^.\s]+(\.[^.\s]+)*$`)
)

// Placeholders splits a templated string into its parts, or says what is
// wrong with its first bad placeholder. It does not know the pools.
func Placeholders(s string) ([]Part, error) {
	var parts []Part
	var lit strings.Builder
	flush := func() {
		if lit.Len() > 0 {
			parts = append(parts, Part{Kind: Literal, Lit: lit.String()})
			lit.Reset()
		}
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c != '$':
			lit.WriteByte(c)
			continue
		case strings.HasPrefix(s[i:], "$$"):
			lit.WriteByte('$')
			i++
			continue
		case !strings.HasPrefix(s[i:], "${"):
			lit.WriteByte('$')
			continue
		}
		end := strings.IndexByte(s[i:], '}')
		if end < 0 {
			return nil, fmt.Errorf("unclosed placeholder %q: close it with }", s[i:])
		}
		inner := s[i+2 : i+end]
		if k := strings.Index(inner, "${"); k >= 0 {
			return nil, fmt.Errorf("unclosed placeholder %q: close it with }", strings.TrimRight(s[i:i+2+k], " "))
		}
		p, err := placeholder(inner)
		if err != nil {
			return nil, err
		}
		flush()
		parts = append(parts, p)
		i += end
	}
	flush()
	return parts, nil
}

func placeholder(inner string) (Part, error) {
	name, arg, hasArg := strings.Cut(inner, ":")
	switch {
	case inner == "":
		return Part{}, fmt.Errorf("empty placeholder ${}: name a pool, or use ${seq} or ${rand:8}")
	case name == "seq" && !hasArg:
		return Part{Kind: Sequence}, nil
	case name == "seq":
		return Part{}, fmt.Errorf("placeholder ${%s}: ${seq} takes no argument", inner)
	case name == "rand" && !hasArg:
		return Part{}, fmt.Errorf("placeholder ${rand} needs a length, like ${rand:8}")
	case name == "rand":
		n, err := strconv.Atoi(arg)
		if err != nil || n < 1 || n > maxRandLen {
			return Part{}, fmt.Errorf("placeholder ${%s}: the length must be a whole number from 1 to %d", inner, maxRandLen)
		}
		return Part{Kind: Random, N: n}, nil
	case hasArg || !nameRe.MatchString(name) || len(name) > maxNameLen:
		return Part{}, fmt.Errorf("invalid placeholder ${%s}: a pool's name is lower_snake_case like task; the others are ${seq} and ${rand:8}", inner)
	}
	return Part{Kind: PoolRef, Pool: name}, nil
}

// Pools lists the pools a template names in the order its request uses them:
// first those it always needs (path, query values without a chance, headers,
// body), then those of each parameter with a chance, one entry per such
// parameter. It assumes a valid template.
func (t Template) Pools() (need []string, optional [][]string) {
	add := func(to []string, s string) []string {
		parts, _ := Placeholders(s)
		for _, p := range parts {
			if p.Kind == PoolRef && !slices.Contains(to, p.Pool) {
				to = append(to, p.Pool)
			}
		}
		return to
	}
	need = add(need, t.Path)
	for _, q := range t.Query {
		if q.Chance == 0 {
			need = add(need, q.Value)
		}
	}
	for _, h := range t.Headers {
		need = add(need, h.Value)
	}
	need = add(need, t.Body)
	for _, q := range t.Query {
		if q.Chance > 0 {
			optional = append(optional, add(nil, q.Value))
		}
	}
	return need, optional
}

// Expects reports whether a response status counts as success.
func (t Template) Expects(code int) bool {
	if code >= 500 {
		return false
	}
	if t.Expect == nil {
		return code >= 200 && code < 300
	}
	return slices.Contains(t.Expect, code)
}

// --- decoding ---

// Params are a template's query parameters, written as a mapping in order.
type Params []Param

// Headers are a template's request headers, written as a mapping in order.
type Headers []Header

// Captures are where a template's responses fill pools, written as a mapping keyed by pool.
type Captures []Capture

func (t *Template) defaults(n *yaml.Node) {
	*t = DefaultTemplate
	t.Line, t.Col = n.Line, n.Column
}

// decodeNode reads parameters written as a value, or as {value, chance}.
func (ps *Params) decodeNode(d *decoder, n *yaml.Node, at place) {
	entries, _ := d.entries(n, at, "parameter", false, nil)
	*ps = Params{}
	for _, e := range entries {
		q := Param{Name: e.key.Value}
		if e.val.Kind == yaml.MappingNode {
			written := d.object(e.val, place{path: e.path, want: `a mapping like {value: "${task}", chance: 50%}`}, &q)
			if written != nil && written["value"] == nil {
				d.fail(e.val, e.path, `missing field "value": the parameter's value, like "${task}"`)
			}
		} else {
			q.Value = d.str(e.val, e.path)
		}
		*ps = append(*ps, q)
	}
}

// decodeNode reads headers, names compared without case as HTTP does.
func (hs *Headers) decodeNode(d *decoder, n *yaml.Node, at place) {
	entries, _ := d.entries(n, at, "header", true, nil)
	*hs = Headers{}
	for _, e := range entries {
		*hs = append(*hs, Header{Name: e.key.Value, Value: d.str(e.val, e.path)})
	}
}

func (cs *Captures) decodeNode(d *decoder, n *yaml.Node, at place) {
	entries, _ := d.entries(n, at, "pool", false, nil)
	*cs = Captures{}
	for _, e := range entries {
		c := Capture{Pool: e.key.Value}
		d.object(e.val, place{path: e.path, want: "a mapping like {json: id} or {header: Location}"}, &c)
		*cs = append(*cs, c)
	}
}

// --- validation ---

// workload checks the templates, the pools they fill and use, and their fallbacks.
func (v *validator) workload() {
	w := v.spec.Workload
	const p = "workload"
	switch {
	case !v.given("", "workload", w != nil, "list the requests to send, like - {name: home, method: GET, path: /}"):
		return
	case len(w) == 0:
		v.fail(p, "is empty: list at least one request template, like - {name: home, method: GET, path: /}")
		return
	case len(w) > maxTemplates:
		v.fail(p, "has %d templates; at most %d", len(w), maxTemplates)
		return
	}

	// Pools are known by what fills them.
	var pools, names []string
	filler := map[string]string{} // pool → the first template that fills it
	byName := map[string]int{}
	for i, t := range w {
		for _, c := range t.Capture {
			if _, dup := filler[c.Pool]; !dup && nameRe.MatchString(c.Pool) && !slices.Contains(reserved, c.Pool) {
				pools = append(pools, c.Pool)
				filler[c.Pool] = t.Name
			}
		}
		if _, dup := byName[t.Name]; t.Name != "" && !dup {
			byName[t.Name] = i
			names = append(names, t.Name)
		}
	}

	total, weightsOK := 0, true
	first := map[string]int{}
	for i := range w {
		tp := fmt.Sprintf("%s[%d]", p, i)
		if !v.ok(tp) {
			weightsOK = false
			continue
		}
		v.template(i, tp, pools, names, filler, first)
		switch t := w[i]; {
		case !v.ok(tp + ".weight"):
			weightsOK = false
		case t.Weight < 0:
			v.fail(tp+".weight", "must be >= 0, got %d", t.Weight)
			weightsOK = false
		case t.Weight > maxWeight:
			v.fail(tp+".weight", "must be at most %d, got %d: weights are relative, so smaller ones say the same", maxWeight, t.Weight)
			weightsOK = false
		default:
			total += t.Weight
		}
	}
	if weightsOK && total == 0 {
		v.fail(p, "every weight is 0, so no request would be sent: give a template a weight above 0")
	}
	v.fallbacks(byName)
}

// startsWithPath reports whether a request path that begins with a
// placeholder begins with a path: a pool every template fills from a
// Location or Content-Location header only. A path whose placeholders do not
// parse is left to the check that says so.
func (v *validator) startsWithPath(p string) bool {
	parts, err := Placeholders(p)
	if err != nil || len(parts) == 0 {
		return true
	}
	if parts[0].Kind != PoolRef {
		return false
	}
	filled := false
	for _, t := range v.spec.Workload {
		for _, c := range t.Capture {
			if c.Pool != parts[0].Pool {
				continue
			}
			if !strings.EqualFold(c.Header, "Location") && !strings.EqualFold(c.Header, "Content-Location") {
				return false
			}
			filled = true
		}
	}
	return filled
}

func (v *validator) template(i int, tp string, pools, names []string, filler map[string]string, first map[string]int) {
	t := v.spec.Workload[i]
	v.uniqueName(tp, t.Name, "get_task", "a short id like get_task, used in the reports", "workload", i, first,
		func(j int) int { return v.spec.Workload[j].Line })

	methodOK := v.ok(tp+".method") && oneOf(v, tp+".method", "method", t.Method, Methods)

	// Every placeholder must parse and name a pool some template fills.
	// Until they all parse, and every chance is sound, which pools the
	// request always needs is not known: take and fallback wait.
	sound := true
	text := func(path, s string) {
		if !v.ok(path) {
			sound = false
			return
		}
		parts, err := Placeholders(s)
		if err != nil {
			v.fail(path, "%v", err)
			sound = false
			return
		}
		for _, part := range parts {
			if part.Kind == PoolRef && !slices.Contains(pools, part.Pool) {
				known := "no template captures into any pool"
				if len(pools) > 0 {
					known = "the pools are " + strings.Join(pools, ", ")
				}
				v.fail(path, "unknown placeholder ${%s}: no template captures into pool %q (%s; the others are ${seq} and ${rand:8})", part.Pool, part.Pool, known)
				sound = false
				return
			}
		}
	}

	pp := tp + ".path"
	switch {
	case !v.given(tp, "path", t.Path != "", "the request's path, like /tasks/${task}"):
	case !strings.HasPrefix(t.Path, "/") && !strings.HasPrefix(t.Path, "${"):
		v.fail(pp, "must begin with / (or with a pool captured from a Location header), got %q", t.Path)
	case strings.HasPrefix(t.Path, "${") && !v.startsWithPath(t.Path):
		v.fail(pp, "must begin with /, got %q: only a pool captured from a Location header holds a path; write the path around the value, like /items/%s", t.Path, t.Path)
	case strings.ContainsAny(t.Path, " \t\r\n#"):
		v.fail(pp, "must not hold spaces or #, got %q: escape them, like %%20", t.Path)
	default:
		text(pp, t.Path)
	}

	for _, q := range t.Query {
		qp := tp + ".query." + q.Name
		if !v.ok(qp) {
			continue
		}
		switch {
		case q.Name == "" || strings.ContainsAny(q.Name, "&=#? \t\r\n"):
			v.fail(qp, "invalid parameter name %q: write it without &, =, #, ? or spaces", q.Name)
			sound = false
			continue
		case strings.ContainsAny(q.Value, "&#\r\n"):
			v.fail(qp, "must not hold &, # or line breaks, got %q: write each parameter on its own", q.Value)
			sound = false
			continue
		}
		vp := qp
		if _, ok := v.spec.src[qp+".value"]; ok {
			vp = qp + ".value"
		}
		text(vp, q.Value)
		cp := qp + ".chance"
		switch {
		case !v.ok(cp):
			sound = false
		case v.present(cp, q.Chance != 0) && !(q.Chance > 0 && q.Chance <= 1):
			v.fail(cp, "must be above 0%% and at most 100%%, got %s", v.got(cp, q.Chance, Ratio))
			sound = false
		}
	}

	for _, h := range t.Headers {
		hp := tp + ".headers." + h.Name
		if !v.ok(hp) {
			continue
		}
		switch {
		case !headerNameRe.MatchString(h.Name):
			v.fail(hp, "invalid header name %q", h.Name)
		case strings.EqualFold(h.Name, "Host") || strings.EqualFold(h.Name, "Content-Length") || strings.EqualFold(h.Name, "Transfer-Encoding"):
			v.fail(hp, "is set by the generator: leave it out")
		case strings.ContainsAny(h.Value, "\r\n"):
			v.fail(hp, "must not hold line breaks")
		default:
			text(hp, h.Value)
		}
	}

	bp := tp + ".body"
	if v.ok(bp) && t.Body != "" {
		if methodOK && (t.Method == "GET" || t.Method == "HEAD") {
			v.fail(bp, "a %s request takes no body", t.Method)
		} else {
			text(bp, t.Body)
		}
	}

	ep := tp + ".expect"
	if v.ok(ep) && t.Expect != nil {
		if len(t.Expect) == 0 {
			v.fail(ep, "is empty: leave it out to expect any 2xx")
		}
		for k, code := range t.Expect {
			cp := fmt.Sprintf("%s[%d]", ep, k)
			switch {
			case !v.ok(cp):
			case code >= 500 && code <= 599:
				v.fail(cp, "a 5xx always counts as an error, got %d: expect only codes below 500", code)
			case code < 100 || code > 599:
				v.fail(cp, "must be a status code from 100 to 499, got %d", code)
			}
		}
	}

	for _, c := range t.Capture {
		cp := tp + ".capture." + c.Pool
		if !v.ok(cp) {
			continue
		}
		switch {
		case slices.Contains(reserved, c.Pool):
			v.fail(cp, "%q is a placeholder, not a pool: name the pool otherwise", c.Pool)
		case !nameRe.MatchString(c.Pool) || len(c.Pool) > maxNameLen:
			v.fail(cp, "invalid pool name %q: use lower_snake_case like task, at most %d characters", c.Pool, maxNameLen)
		case !v.ok(cp+".json") || !v.ok(cp+".header"):
		case c.JSON == "" && c.Header == "":
			v.fail(cp, "needs where the value is: json: a field like id, or header: a name like Location")
		case c.JSON != "" && c.Header != "":
			v.fail(cp, "takes json or header, not both")
		case c.JSON != "" && !jsonFieldRe.MatchString(c.JSON):
			v.fail(cp+".json", "invalid JSON field %q: use names joined by dots, like id or data.id", c.JSON)
		case c.Header != "" && !headerNameRe.MatchString(c.Header):
			v.fail(cp+".header", "invalid header name %q", c.Header)
		}
	}

	if !sound || !v.ok(pp) {
		return
	}
	need, _ := t.Pools()
	for k, pool := range t.Take {
		kp := fmt.Sprintf("%s.take[%d]", tp, k)
		if v.ok(kp) && !slices.Contains(need, pool) {
			v.fail(kp, "the request does not always use pool %q: take only a pool its path, headers, body or a query value without chance names", pool)
		}
	}

	fp := tp + ".fallback"
	if !v.ok(fp) {
		return
	}
	switch {
	case len(need) > 0 && !v.present(fp, t.Fallback != ""):
		v.missing(tp, "fallback", fmt.Sprintf("pool %q is empty until a response fills it: name a template to send meanwhile, like fallback: %s", need[0], filler[need[0]]))
	case t.Fallback == "":
	case len(need) == 0:
		v.fail(fp, "only applies to a template that always uses a pool")
	default:
		oneOf(v, fp, "template", t.Fallback, names)
	}
}

// fallbacks refuses chains of fallbacks that come back to where they began:
// such a chain could never send anything while its pools are empty.
func (v *validator) fallbacks(byName map[string]int) {
	w := v.spec.Workload
	reported := map[int]bool{}
	for i := range w {
		chain := []int{i}
		for j := i; ; {
			next, ok := byName[w[j].Fallback]
			if w[j].Fallback == "" || !ok || !v.ok(fmt.Sprintf("workload[%d].fallback", j)) {
				break
			}
			if k := slices.Index(chain, next); k >= 0 {
				cycle := append(chain[k:], next)
				if k == 0 && !slices.ContainsFunc(cycle, func(c int) bool { return reported[c] }) {
					names := make([]string, len(cycle))
					for n, c := range cycle {
						names[n], reported[c] = w[c].Name, true
					}
					v.fail(fmt.Sprintf("workload[%d].fallback", i), "fallbacks go round in a cycle (%s): end the chain at a template that needs no pool",
						strings.Join(names, " → "))
				}
				break
			}
			chain, j = append(chain, next), next
		}
	}
}

// ValidateWorkload checks templates built in code the way Parse checks a
// file's workload section, returning Errors on failure.
func ValidateWorkload(w []Template) error {
	v := &validator{spec: &Spec{Workload: w}}
	v.workload()
	return v.errs.err()
}
