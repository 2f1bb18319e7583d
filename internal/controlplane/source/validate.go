package source

// Problem is one thing wrong with one file.
type Problem struct {
	File string
	Msg  string // "spec.routes[0].target: ..." where the field is known
}

// String reads "file: field path: message".
func (p Problem) String() string { return p.File + ": " + p.Msg }

// Report is the outcome of validating a directory.
type Report struct {
	// Tables counts the valid tables (each defined by exactly one valid
	// file).
	Tables int
	// Problems lists every problem, sorted by file.
	Problems []Problem
	// Warnings lists what loads but should be rewritten (deprecated
	// fields), sorted by file.
	Warnings []Problem
}

// ValidateDir checks every RouteTable file in dir exactly as the control
// plane would load it, without serving anything. The error is for a
// directory that cannot be read.
func ValidateDir(dir string) (Report, error) {
	s := newScanner(dir, EncodeProto)
	if _, _, err := s.scan(readAll); err != nil {
		return Report{}, err
	}
	var rep Report
	for _, r := range s.files {
		if r.table != nil && len(r.duplicate) == 0 {
			rep.Tables++
		}
	}
	rep.Problems = s.problems()
	rep.Warnings = s.warnings()
	return rep, nil
}
