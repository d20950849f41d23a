package transport

import (
	"testing"

	"google.golang.org/grpc/metadata"
	"google.golang.org/protobuf/proto"

	cairnv1 "github.com/cairnkv/cairn/proto/cairn/v1"
)

// FuzzHello feeds arbitrary bytes, as a first frame and as snapshot
// headers, to the handshake checks: they must refuse or accept, never panic,
// and never accept another cluster.
func FuzzHello(f *testing.F) {
	good, _ := proto.Marshal(&cairnv1.PeerFrame{Hello: &cairnv1.PeerHello{
		ClusterId: testClusterID[:], Name: "n2", Incarnation: 1, Target: "n1",
	}})
	f.Add(good, "n2", "ca19", "1")
	f.Add([]byte{0x0a, 0x00}, "", "zz", "-1")
	f.Fuzz(func(t *testing.T, frame []byte, name, clusterHex, inc string) {
		tr, err := New(Config{
			ClusterID: testClusterID, Name: "n1", Incarnation: 1,
			Resolve: newAddrBook().resolve, Handler: newRecorder(),
		})
		if err != nil {
			t.Fatal(err)
		}
		defer tr.Close()
		var fr cairnv1.PeerFrame
		if proto.Unmarshal(frame, &fr) == nil {
			if tr.checkHello(fr.GetHello(), "") == nil && string(fr.GetHello().GetClusterId()) != string(testClusterID[:]) {
				t.Fatalf("accepted cluster %x", fr.GetHello().GetClusterId())
			}
		}
		md := metadata.Pairs(mdName, name, mdClusterID, clusterHex, mdIncarnation, inc)
		if h, ok := helloFromMD(md, "n1"); ok {
			_ = tr.checkHello(h, name)
		}
	})
}
