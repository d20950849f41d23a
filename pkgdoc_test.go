package cairn_test

import (
	"go/ast"
	"go/doc"
	"go/parser"
	"go/token"
	"io/fs"
	"path/filepath"
	"strings"
	"testing"
)

// Every package says what it is for in a doc comment that go doc really
// shows (STYLE.md): the comment right above a package clause of a non-test
// file, starting "Package <name> " (or "Command <name> " for a main
// package), kept in doc.go. A blank line between the comment and the
// package clause detaches it, and go doc then shows nothing: this test
// reads the doc as go/doc does, so it catches that too.
func TestEveryPackageHasDoc(t *testing.T) {
	err := filepath.WalkDir(".", func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() {
			return nil
		}
		if path != "." && (strings.HasPrefix(d.Name(), ".") || d.Name() == "testdata") {
			return filepath.SkipDir
		}
		fset := token.NewFileSet()
		pkgs, err := parser.ParseDir(fset, path, func(fi fs.FileInfo) bool {
			// Generated code (*.pb.go) carries no package comment; a
			// hand-written doc.go beside it does.
			return !strings.HasSuffix(fi.Name(), "_test.go") && !strings.HasSuffix(fi.Name(), ".pb.go")
		}, parser.ParseComments|parser.PackageClauseOnly)
		if err != nil {
			return err
		}
		for name, pkg := range pkgs {
			var files []*ast.File
			inDocGo := false
			for fname, f := range pkg.Files {
				files = append(files, f)
				if f.Doc != nil && filepath.Base(fname) == "doc.go" {
					inDocGo = true
				}
			}
			p, err := doc.NewFromFiles(fset, files, "example.com/"+path)
			if err != nil {
				return err
			}
			want := "Package " + name + " "
			if name == "main" {
				want = "Command "
			}
			switch {
			case strings.TrimSpace(p.Doc) == "":
				t.Errorf("package %s (%s): go doc shows no package comment (none, or one cut off from the package clause by a blank line)", name, path)
			case !strings.HasPrefix(p.Doc, want):
				t.Errorf("package %s (%s): doc comment starts %q, want %q…", name, path, firstLine(p.Doc), want)
			case len(strings.Fields(p.Synopsis(p.Doc))) < 6:
				t.Errorf("package %s (%s): doc comment's first sentence %q says too little", name, path, p.Synopsis(p.Doc))
			case !inDocGo:
				t.Errorf("package %s (%s): the package comment is not in doc.go", name, path)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func firstLine(s string) string {
	s, _, _ = strings.Cut(s, "\n")
	return s
}
