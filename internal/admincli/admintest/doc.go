// Package admintest is a fake Admin service for the tests of cairn admin
// (internal/admincli and cmd/cairn): it records every request and answers
// with canned responses, on a loopback gRPC server.
//
//	f := &admintest.Fake{Plan: &pb.PlanResponse{Moves: admintest.Moves}}
//	addr := f.Start(t)
//	... run cairn admin drain n2 against addr ...
//	f.Requests().Drains // what it was asked
package admintest
