package cairn_test

import (
	"os"
	"regexp"
	"strings"
	"testing"
)

// The README stands on its own: it points at nothing outside the
// repository, and every file it links or names exists here.
func TestReadmePointsInsideTheRepository(t *testing.T) {
	b, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	readme := string(b)
	for _, outside := range []string{"../", "/work/", "shared/"} {
		if strings.Contains(readme, outside) {
			t.Errorf("README.md mentions %q, outside the repository", outside)
		}
	}
	links := regexp.MustCompile(`\]\(([^)#]+)`).FindAllStringSubmatch(readme, -1)
	named := regexp.MustCompile("`((?:docs|deploy|internal|cmd|client|e2e|proto)/[A-Za-z0-9_./-]*)`").FindAllStringSubmatch(readme, -1)
	for _, m := range append(links, named...) {
		p := m[1]
		if strings.Contains(p, "://") || strings.ContainsAny(p, "<>*{") {
			continue
		}
		if _, err := os.Stat(strings.TrimSuffix(p, "/")); err != nil {
			t.Errorf("README.md points at %s: %v", p, err)
		}
	}
}
