package ambassador

import "github.com/meshlite/meshlite/internal/config"

// CheckFiles validates each file (RouteTable or process settings) and
// returns one line per problem.
func CheckFiles(files []string) []string {
	var problems []string
	for _, f := range files {
		problems = append(problems, config.CheckFile(f)...)
	}
	return problems
}
