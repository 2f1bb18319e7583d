package dashboardtest

import (
	"fmt"
	"slices"
	"strings"
	"testing"
)

// promqlFuncs are the functions and aggregation operators the dashboard
// may call; an unknown name before "(" is an error, so that a typo is not
// taken for a metric.
var promqlFuncs = map[string]bool{
	"sum": true, "min": true, "max": true, "avg": true, "count": true, "group": true,
	"stddev": true, "stdvar": true, "topk": true, "bottomk": true, "quantile": true,
	"rate": true, "irate": true, "increase": true, "delta": true, "idelta": true, "deriv": true,
	"histogram_quantile": true, "time": true, "vector": true, "scalar": true, "abs": true,
	"absent": true, "clamp_min": true, "clamp_max": true, "sort": true, "sort_desc": true,
	"avg_over_time": true, "max_over_time": true, "min_over_time": true, "sum_over_time": true,
	"last_over_time": true, "changes": true, "resets": true, "round": true, "timestamp": true,
}

// promqlKeywords are identifiers that are not metrics outside a function
// call; the grouping ones are followed by a label list.
var promqlKeywords = map[string]bool{
	"and": true, "or": true, "unless": true, "bool": true, "offset": true, "inf": true, "nan": true,
	"by": true, "without": true, "on": true, "ignoring": true, "group_left": true, "group_right": true,
}

// aggregations may take their grouping before the parenthesis:
// sum by (door) (...).
var aggregations = map[string]bool{
	"sum": true, "min": true, "max": true, "avg": true, "count": true, "group": true,
	"stddev": true, "stdvar": true, "topk": true, "bottomk": true, "quantile": true,
}

var grouping = map[string]bool{"by": true, "without": true, "on": true, "ignoring": true, "group_left": true, "group_right": true}

type token struct {
	kind string // "ident", "num", "str", "var", "punct"
	text string
}

// lex splits a PromQL expression (with Grafana's $variables) into tokens.
func lex(expr string) ([]token, error) {
	var out []token
	for i := 0; i < len(expr); {
		c := expr[i]
		switch {
		case c == ' ' || c == '\t' || c == '\n':
			i++
		case c == '"' || c == '\'' || c == '`':
			j := i + 1
			for j < len(expr) && expr[j] != c {
				if expr[j] == '\\' && c != '`' {
					j++
				}
				j++
			}
			if j >= len(expr) {
				return nil, fmt.Errorf("unterminated string at %d", i)
			}
			out = append(out, token{"str", expr[i : j+1]})
			i = j + 1
		case c == '$':
			j := i + 1
			if j < len(expr) && expr[j] == '{' {
				k := strings.IndexByte(expr[j:], '}')
				if k < 0 {
					return nil, fmt.Errorf("unterminated ${ at %d", i)
				}
				j += k + 1
			} else {
				for j < len(expr) && isIdent(expr[j], false) {
					j++
				}
			}
			out = append(out, token{"var", expr[i:j]})
			i = j
		case c >= '0' && c <= '9' || c == '.':
			j := i
			for j < len(expr) && (isIdent(expr[j], false) || expr[j] == '.') {
				j++
			}
			out = append(out, token{"num", expr[i:j]})
			i = j
		case isIdent(c, true):
			j := i
			for j < len(expr) && isIdent(expr[j], false) {
				j++
			}
			out = append(out, token{"ident", expr[i:j]})
			i = j
		default:
			op := string(c)
			if i+1 < len(expr) && slices.Contains([]string{"!=", "=~", "!~", "==", ">=", "<="}, expr[i:i+2]) {
				op = expr[i : i+2]
			}
			if len(op) == 1 && !strings.Contains("(){}[],=+-*/%^<>", op) {
				return nil, fmt.Errorf("unexpected %q at %d", op, i)
			}
			out = append(out, token{"punct", op})
			i += len(op)
		}
	}
	return out, nil
}

func isIdent(c byte, first bool) bool {
	return c == '_' || c == ':' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || !first && c >= '0' && c <= '9'
}

// metricNames returns the metric names an expression selects, in order of
// first appearance. It checks that brackets balance, that every function is
// known and that label matchers and ranges are well formed.
func metricNames(expr string) ([]string, error) {
	toks, err := lex(expr)
	if err != nil {
		return nil, err
	}
	var names, stack []string
	for i := 0; i < len(toks); i++ {
		t := toks[i]
		next := func(k int) token {
			if i+k < len(toks) {
				return toks[i+k]
			}
			return token{}
		}
		switch {
		case t.text == "{" || t.text == "[" || grouping[t.text]:
			// label matchers, a range, a label list: no metric inside
			j, err := skip(toks, i)
			if err != nil {
				return nil, err
			}
			i = j
		case t.text == "(":
			stack = append(stack, ")")
		case t.kind == "punct" && (t.text == ")" || t.text == "}" || t.text == "]"):
			if len(stack) == 0 || stack[len(stack)-1] != t.text {
				return nil, fmt.Errorf("unbalanced %q", t.text)
			}
			stack = stack[:len(stack)-1]
		case t.kind == "ident" && (next(1).text == "(" || aggregations[t.text] && grouping[next(1).text]):
			if !promqlFuncs[t.text] {
				return nil, fmt.Errorf("unknown function %q", t.text)
			}
		case t.kind == "ident" && !promqlKeywords[t.text] && grouping[next(1).text]:
			return nil, fmt.Errorf("unknown function %q before %s", t.text, next(1).text)
		case t.kind == "ident" && promqlKeywords[t.text]:
		case t.kind == "ident":
			if !slices.Contains(names, t.text) {
				names = append(names, t.text)
			}
		}
	}
	if len(stack) > 0 {
		return nil, fmt.Errorf("unclosed brackets, expecting %v", stack)
	}
	return names, nil
}

// skip checks what opens at toks[i] and holds no metric (label matchers,
// a range, a grouping's label list) and returns the index of its last
// token.
func skip(toks []token, i int) (int, error) {
	switch t := toks[i]; {
	case t.text == "{":
		return skipMatchers(toks, i)
	case t.text == "[":
		if i+2 >= len(toks) || toks[i+1].kind != "num" && toks[i+1].kind != "var" || toks[i+2].text != "]" {
			return 0, fmt.Errorf("malformed range after token %d", i)
		}
		return i + 2, nil
	default:
		return skipLabelList(toks, i)
	}
}

// skipLabelList checks the "(a, b)" after a grouping keyword at toks[i]
// and returns the index of the ")".
func skipLabelList(toks []token, i int) (int, error) {
	kw := toks[i].text
	if i+1 >= len(toks) || toks[i+1].text != "(" {
		return 0, fmt.Errorf("%s without a label list", kw)
	}
	for j := i + 2; j < len(toks); j++ {
		switch {
		case toks[j].text == ")":
			return j, nil
		case toks[j].kind != "ident" && toks[j].text != ",":
			return 0, fmt.Errorf("%s (...): unexpected %q", kw, toks[j].text)
		}
	}
	return 0, fmt.Errorf("unterminated %s (", kw)
}

// skipMatchers checks the label matchers that open at toks[i] ("{") and
// returns the index of the closing "}".
func skipMatchers(toks []token, i int) (int, error) {
	j := i + 1
	for {
		if j < len(toks) && toks[j].text == "}" {
			return j, nil
		}
		if j+2 >= len(toks) || toks[j].kind != "ident" || toks[j+2].kind != "str" ||
			!slices.Contains([]string{"=", "!=", "=~", "!~"}, toks[j+1].text) {
			return 0, fmt.Errorf("malformed label matcher at token %d", j)
		}
		j += 3
		if j < len(toks) && toks[j].text == "," {
			j++
		}
	}
}

func TestMetricNames(t *testing.T) {
	cases := []struct {
		name, expr string
		want       []string
		wantErr    string
	}{
		{"aggregation over a rate", `sum by (door, decision) (rate(meshlite_requests_total{namespace=~"$namespace"}[$__rate_interval]))`,
			[]string{"meshlite_requests_total"}, ""},
		{"histogram quantile", `histogram_quantile(0.99, sum by (le) (rate(a_bucket{x="1", y!~"b|c"}[5m])))`, []string{"a_bucket"}, ""},
		{"binary operation of two metrics", `time() - b_seconds{n="x"} > 0 or vector(0)`, []string{"b_seconds"}, ""},
		{"comparison and count", `count(c == 0)`, []string{"c"}, ""},
		{"grouping after the aggregation", `max by (pod) (x) + min without (a, b) (y)`, []string{"x", "y"}, ""},
		{"unknown function", `summ(rate(x[1m]))`, nil, "unknown function"},
		{"unknown aggregation before by", `summ by (a) (x)`, nil, "unknown function"},
		{"unbalanced", `sum(rate(x[1m])`, nil, "unclosed"},
		{"bad matcher", `x{a=b}`, nil, "label matcher"},
		{"bad range", `rate(x[])`, nil, "range"},
		{"stray character", `x @ y`, nil, "unexpected"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := metricNames(tc.expr)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want one containing %q", err, tc.wantErr)
				}
				return
			}
			if err != nil || !slices.Equal(got, tc.want) {
				t.Fatalf("metricNames = %v, %v; want %v", got, err, tc.want)
			}
		})
	}
}
