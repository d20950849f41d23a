package cairn_test

import (
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Every package says what it is for in a doc.go (STYLE.md).
func TestEveryPackageHasDocGo(t *testing.T) {
	err := filepath.WalkDir(".", func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() || strings.HasPrefix(d.Name(), ".") || d.Name() == "testdata" {
			if d.IsDir() && path != "." {
				return filepath.SkipDir
			}
			return nil
		}
		pkgs, err := parser.ParseDir(token.NewFileSet(), path, func(fi fs.FileInfo) bool {
			return !strings.HasSuffix(fi.Name(), "_test.go")
		}, parser.PackageClauseOnly)
		if err != nil {
			return err
		}
		if len(pkgs) == 0 || strings.HasPrefix(path, "proto") {
			return nil // test-only directories; generated protobuf code
		}
		if _, err := os.Stat(filepath.Join(path, "doc.go")); err != nil {
			t.Errorf("package %s has no doc.go", path)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
