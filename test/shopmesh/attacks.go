package shopmesh

import (
	"encoding/base32"
	"slices"
	"strings"
	"time"

	flowpb "github.com/cilium/cilium/api/v1/flow"
)

// Attack is a kind of attack the simulator mixes into the shop's traffic.
type Attack string

// The attacks, each aimed at one detective policy under policies/.
const (
	// AttackNone marks the shop's ordinary traffic.
	AttackNone Attack = ""
	// AttackCloudMetadata: the catalog pod asks the AWS instance metadata
	// service for the node role's credentials (EgressToCloudMetadata).
	AttackCloudMetadata Attack = "cloud-metadata"
	// AttackAdminEndpoint: a scanner on the Internet asks the frontend for
	// Spring Boot Actuator endpoints (HTTPAdminEndpointAccess, and
	// HTTPScannerUserAgent for its zgrab User-Agent).
	AttackAdminEndpoint Attack = "admin-endpoint"
	// AttackDNSTunnel: the recommendation pod exfiltrates data as base32
	// labels of TXT queries under a made-up domain (DNSTunnelingSuspected,
	// and DNSUnusualQueryType for the record type).
	AttackDNSTunnel Attack = "dns-tunnel"
	// AttackDeniedDatabase: the ad pod tries the orders database and the
	// database's ingress policy drops it (PolicyDeniedDrop).
	AttackDeniedDatabase Attack = "denied-database"
	// AttackMiningPool: a currency pod connects to a mining pool's stratum
	// port on the Internet (CryptoMiningPoolConnection and
	// EgressToWorldUnexpectedPort).
	AttackMiningPool Attack = "mining-pool"
)

// Addresses and names the attacks use; no benign flow uses them.
const (
	metadataIP  = "169.254.169.254"
	minerIP     = "198.51.100.23"
	minerPort   = 4444
	exfilDomain = "t.exfil-relay.example."
	scannerIP   = "203.0.113.77"
)

// attackRotation is the order a Generator mixes attacks in.
var attackRotation = []Attack{
	AttackCloudMetadata, AttackAdminEndpoint, AttackDNSTunnel, AttackDeniedDatabase, AttackMiningPool,
}

// AllAttacks returns the attacks in the order a Generator mixes them in.
func AllAttacks() []Attack { return slices.Clone(attackRotation) }

// Policies returns the ids of the policies that alert on the attack's
// flows in the initiating direction; replies and responses alert on none.
func (a Attack) Policies() []string {
	switch a {
	case AttackCloudMetadata:
		return []string{"EgressToCloudMetadata"}
	case AttackAdminEndpoint:
		return []string{"HTTPAdminEndpointAccess", "HTTPScannerUserAgent"}
	case AttackDNSTunnel:
		return []string{"DNSTunnelingSuspected", "DNSUnusualQueryType"}
	case AttackDeniedDatabase:
		return []string{"PolicyDeniedDrop"}
	case AttackMiningPool:
		return []string{"CryptoMiningPoolConnection", "EgressToWorldUnexpectedPort"}
	}
	return nil
}

// Classify tells which attack a flow of this simulator belongs to, replies
// included, or AttackNone for the shop's ordinary traffic. It reads only
// the flow, so it also works on flows that went through a relay.
func Classify(f *flowpb.Flow) Attack {
	ips := []string{f.GetIP().GetSource(), f.GetIP().GetDestination()}
	switch {
	case slices.Contains(ips, metadataIP):
		return AttackCloudMetadata
	case slices.Contains(ips, minerIP):
		return AttackMiningPool
	case slices.Contains(ips, scannerIP):
		// The shop's own Actuator paths (health, metrics) are benign.
		return AttackAdminEndpoint
	case f.GetVerdict() == flowpb.Verdict_DROPPED && f.GetDropReasonDesc() == flowpb.DropReason_POLICY_DENIED:
		return AttackDeniedDatabase
	case strings.HasSuffix(f.GetL7().GetDns().GetQuery(), "."+exfilDomain):
		return AttackDNSTunnel
	}
	return AttackNone
}

func (g *Generator) runAttack(a Attack) {
	switch a {
	case AttackCloudMetadata:
		g.stealCredentials()
	case AttackAdminEndpoint:
		g.scanActuator()
	case AttackDNSTunnel:
		g.tunnel()
	case AttackDeniedDatabase:
		g.probeDatabase()
	case AttackMiningPool:
		g.mine()
	}
}

// stealCredentials: from a compromised catalog pod, list the node's IAM
// role and fetch its credentials from IMDSv1.
func (g *Generator) stealCredentials() {
	cat := g.pod("catalog")
	c := conn{client: podPeer(cat), server: worldPeer(metadataIP), sport: g.ephemeralPort(), dport: 80}
	g.packet(c, false, flagsSYN(), flowpb.TraceReason_NEW, g.between(50*time.Microsecond, 300*time.Microsecond))
	g.packet(c, true, flagsSYNACK(), flowpb.TraceReason_REPLY, g.between(100*time.Microsecond, 400*time.Microsecond))
	for _, path := range []string{"/latest/meta-data/iam/security-credentials/", "/latest/meta-data/iam/security-credentials/eks-shop-node-role"} {
		e := &exchange{
			conn:     c,
			method:   "GET",
			url:      "http://" + metadataIP + path,
			protocol: "HTTP/1.1",
			headers:  headers("Accept", "*/*", "User-Agent", "curl/8.5.0", "X-Request-Id", g.uuid()),
			code:     200,
		}
		g.request(e, g.between(50*time.Microsecond, 2*time.Millisecond))
		g.response(e, g.between(400*time.Microsecond, 3*time.Millisecond))
	}
}

// scanActuator: an Internet scanner probes the frontend for Actuator.
func (g *Generator) scanActuator() {
	fe := g.pod("frontend")
	scanner := worldPeer(scannerIP)
	for _, path := range []string{"/actuator/env", "/actuator/heapdump"} {
		e := &exchange{
			conn:     conn{client: scanner, server: podPeer(fe), sport: g.ephemeralPort(), dport: fe.w.port},
			method:   "GET",
			url:      "http://" + shopHost + path,
			protocol: "HTTP/1.1",
			headers:  headers("Accept", "*/*", "User-Agent", "Mozilla/5.0 zgrab/0.x", "X-Request-Id", g.uuid()),
			code:     404,
		}
		g.request(e, g.between(100*time.Microsecond, 20*time.Millisecond))
		g.response(e, g.between(300*time.Microsecond, 2*time.Millisecond))
	}
}

// b32 is lowercase unpadded base32, as DNS tunnelling tools encode data.
var b32 = base32.NewEncoding("abcdefghijklmnopqrstuvwxyz234567").WithPadding(base32.NoPadding)

// tunnel: the recommendation pod sends data out in TXT queries, 56+40
// characters of base32 per query (35+25 bytes), under a domain whose
// authoritative server the attacker runs.
func (g *Generator) tunnel() {
	rec := g.pod("recommendation")
	for range 3 {
		g.tunnelQuery(rec)
	}
}

// tunnelQuery sends one chunk of data from p in a TXT query.
func (g *Generator) tunnelQuery(p *pod) {
	chunk := make([]byte, 60)
	for i := range chunk {
		chunk[i] = byte(g.rng.IntN(256))
	}
	query := b32.EncodeToString(chunk[:35]) + "." + b32.EncodeToString(chunk[35:]) + "." + exfilDomain
	g.lookup(p, query, "TXT", answer{rcode: rcodeNoError, ttl: 0}, g.forward)
}

// probeDatabase: the ad pod, which has no business with the orders
// database, tries to connect; postgres' ingress policy drops the SYN and
// its retransmissions.
func (g *Generator) probeDatabase() {
	ad := g.pod("ad")
	pg := g.pod("postgres")
	c := conn{client: podPeer(ad), server: podPeer(pg), sport: g.ephemeralPort(), dport: pg.w.port}
	g.policyDrop(c, g.between(50*time.Microsecond, 500*time.Microsecond))
	g.policyDrop(c, time.Second)
	g.policyDrop(c, 2*time.Second)
}

// mine: a currency pod logs in to a stratum pool and exchanges jobs.
func (g *Generator) mine() {
	cur := g.pod("currency")
	g.tcpSession(conn{client: podPeer(cur), server: worldPeer(minerIP), sport: g.ephemeralPort(), dport: minerPort}, 3)
}
