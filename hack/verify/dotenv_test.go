package verify

import (
	"os"

	"github.com/compose-spec/compose-go/v2/dotenv"
)

// readDotEnv parses a .env file with compose's own parser.
func readDotEnv(path string) (map[string]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return dotenv.Parse(f)
}
