package shopmesh

import (
	"time"
)

// The Internet services the shop uses, all over TLS on 443, so Cilium sees
// them at L3/L4 only, with the names its DNS proxy saw the pod resolve.
// Their addresses are in the documentation ranges; the names are the real
// services', with made-up CNAME chains shaped like the real ones.

// Names the shop resolves on the Internet.
const (
	stripeName     = "api.stripe.com"
	sendgridName   = "api.sendgrid.com"
	slackName      = "hooks.slack.com"
	sentryName     = "o123.ingest.sentry.io"
	gcsName        = "storage.googleapis.com"
	walBucketName  = "shop-pg-wal.s3.eu-west-1.amazonaws.com"
	cdnName        = "d111111abcdef8.cloudfront.net"
	acmeName       = "acme-v02.api.letsencrypt.org"
	stsName        = "sts.eu-west-1.amazonaws.com"
	route53Name    = "route53.amazonaws.com"
	acmeChallenge  = "_acme-challenge." + shopHost + "."
	shopZoneApex   = shopHost + "."
	internetTTLMax = 300
)

var (
	stripeIPs  = []string{"198.51.100.10", "198.51.100.11", "198.51.100.12"}
	carrierIPs = []string{"198.51.100.40", "198.51.100.41"}
)

// internetZone is what the Internet's DNS holds for the names the shop
// resolves; everything else is NXDOMAIN.
var internetZone = map[string]record{
	stripeName + ".":   {a: stripeIPs, ttl: 60},
	sendgridName + ".": {a: []string{"198.51.100.60", "198.51.100.61"}, ttl: internetTTLMax},
	slackName + ".": {
		cnames: []string{"hooks-slack-com.edgekey.net.", "e6582.a.akamaiedge.net."},
		a:      []string{"198.51.100.70"}, ttl: 20, cnameTTL: internetTTLMax,
	},
	sentryName + ".": {cnames: []string{"ingest.sentry.io."}, a: []string{"198.51.100.80"}, ttl: 60, cnameTTL: internetTTLMax},
	gcsName + ".": {
		a:    []string{"198.51.100.90", "198.51.100.91", "198.51.100.92"},
		aaaa: []string{"2001:db8:4860:4802::5f", "2001:db8:4860:4803::5f"}, ttl: internetTTLMax,
	},
	walBucketName + ".": {
		cnames: []string{"s3-r-w.eu-west-1.amazonaws.com."},
		a:      []string{"198.51.100.100", "198.51.100.101", "198.51.100.102", "198.51.100.103"}, ttl: 5, cnameTTL: 60,
	},
	cdnName + ".": {
		a:    []string{"198.51.100.110", "198.51.100.111", "198.51.100.112", "198.51.100.113"},
		aaaa: []string{"2001:db8:3000:da00:11:1b35:b880:93a1", "2001:db8:3000:c600:11:1b35:b880:93a1"}, ttl: 60,
	},
	acmeName + ".": {
		cnames: []string{"prod.api.letsencrypt.org."},
		a:      []string{"198.51.100.120"}, aaaa: []string{"2001:db8:1:11::c0"}, ttl: 30, cnameTTL: internetTTLMax,
	},
	smtpName + ".":    {a: []string{"198.51.100.62", "198.51.100.63"}, ttl: internetTTLMax},
	stsName + ".":     {a: []string{"198.51.100.130"}, ttl: 60},
	route53Name + ".": {a: []string{"198.51.100.131"}, ttl: 60},
	acmeChallenge:     {txt: true},
	shopZoneApex:      {soa: true},
}

// https is client calling an Internet service by name: resolved first now
// and then (the rest of the time the address is still cached or the
// keep-alive connection reused), then a TLS connection.
func (g *Generator) https(client *pod, name string, resolve float64, exchanges int) {
	if g.chance(resolve) {
		g.resolveAddress(client, name)
	}
	ips := internetZone[name+"."].a
	ip := ips[g.rng.IntN(len(ips))]
	g.tcpSession(conn{client: podPeer(client), server: worldPeer(ip, name), sport: g.ephemeralPort(), dport: 443}, exchanges)
}

// stripe is payment charging a card at the payment provider. Cilium knows
// the provider's addresses by name (DNS-aware policy), so the flows carry
// destination_names.
func (g *Generator) stripe(pay *pod) {
	g.https(pay, stripeName, 0.4, 1+g.rng.IntN(2))
}

// carrier is shipping calling the carrier's API, by address only.
func (g *Generator) carrier(ship *pod) {
	ip := carrierIPs[g.rng.IntN(len(carrierIPs))]
	g.tcpSession(conn{client: podPeer(ship), server: worldPeer(ip), sport: g.ephemeralPort(), dport: 443}, 1)
}

// sendMail is email handing a message to the mail provider's HTTPS API
// (SMTP submission is not among the ports the cluster may use).
func (g *Generator) sendMail(email *pod) {
	g.https(email, sendgridName, 0.5, 1)
}

// notifySlack is checkout posting to the team's Slack channel.
func (g *Generator) notifySlack(co *pod) {
	g.https(co, slackName, 0.7, 1)
}

// saas is one of the shop's other Internet dependencies at work.
func (g *Generator) saas() {
	switch g.rng.IntN(10) {
	case 0, 1:
		g.sendMail(g.pod("email")) // password resets, newsletters
	case 2:
		g.notifySlack(g.pod("checkout"))
	case 3, 4:
		// An error report from a service's Sentry SDK.
		g.https(g.pod(shopWorkloads[g.rng.IntN(len(shopWorkloads))]), sentryName, 0.5, 1)
	case 5:
		// recommendation refreshing its model from Cloud Storage.
		g.https(g.pod("recommendation"), gcsName, 0.8, 3+g.rng.IntN(4))
	case 6, 7:
		// wal-g archiving a WAL segment to S3.
		g.https(g.pod("postgres"), walBucketName, 0.6, 2+g.rng.IntN(3))
	default:
		// ad fetching creatives from the CDN.
		g.https(g.pod("ad"), cdnName, 0.3, 1+g.rng.IntN(2))
	}
}

// renewCertificate is cert-manager renewing the shop's certificate with a
// DNS-01 challenge: it assumes its IAM role, orders at Let's Encrypt,
// writes the TXT record through Route 53, waits until the record is visible
// (asking its resolvers for the zone's SOA, then the TXT record, by
// absolute name) and finalises the order.
func (g *Generator) renewCertificate() {
	cm := g.pod("cert-manager")
	g.https(cm, stsName, 1, 1)
	g.https(cm, acmeName, 1, 3)
	g.https(cm, route53Name, 1, 2)
	g.ask(cm, acmeChallenge, "SOA")
	g.ask(cm, shopZoneApex, "SOA")
	for range 2 + g.rng.IntN(3) {
		g.idle(g.between(2*time.Second, 10*time.Second))
		g.ask(cm, acmeChallenge, "TXT")
	}
	g.https(cm, acmeName, 0, 3)
	g.apiServer(cm, 3)
}
