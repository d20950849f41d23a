// Package buildinfo says which build of Cairn is running: the version the
// release build stamped in (make's -ldflags "-X ...buildinfo.version=v1.2.3"),
// else the module version and VCS revision the Go toolchain recorded, else
// "devel". cairn version, --version, the HTTP door's /version and the
// cairn_build_info metric all read it here, so they never disagree.
//
//	info := buildinfo.Get()
//	fmt.Println(info.Version, info.Revision, info.GoVersion)
package buildinfo
