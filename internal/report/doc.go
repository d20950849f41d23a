// Package report writes a run as one self-contained HTML page: facts,
// tables and line charts drawn as inline SVG, with no script and nothing
// fetched from elsewhere, so the file can be mailed, attached to an issue
// or opened years later. `cairn bench --report` and `cairn check --report`
// use it.
package report
