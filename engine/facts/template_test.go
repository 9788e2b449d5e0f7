package facts

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestPathTemplate(t *testing.T) {
	for _, tc := range []struct{ path, want string }{
		{"", "/"},
		{"/", "/"},
		{"/product/123", "/product/{num}"},
		{"/product/OLJCESPC7Z", "/product/{id}"},
		{"/api/v1/users/9f8c3a1e-2b4d-4c6e-8f0a-1b2c3d4e5f60/orders", "/api/v1/users/{uuid}/orders"},
		{"/blob/3fa2b9c41d", "/blob/{hex}"},
		{"/session/dXNlcjE0Mg", "/session/{id}"},
		{"/hipstershop.CartService/GetCart", "/hipstershop.CartService/GetCart"},
		{"/oauth2-callback", "/oauth2-callback"},
		{"/checkout2/confirm", "/checkout2/confirm"},
		{"/static/app.min.js", "/static/app.min.js"},
		{"/product-images/0PUK6V6EV0.jpg", "/product-images/{id}.jpg"},
		{"/report/2026.csv", "/report/{num}.csv"},
		{"/actuator/env", "/actuator/env"},
		{"/deadbeef", "/deadbeef"},
		{"/a//b/", "/a//b/"},
		{"/" + strings.Repeat("x/", 40), "/x/x/x/x/x/x/x/x/x/x/x/x/x/x/x/x/…"},
	} {
		require.Equal(t, tc.want, PathTemplate(tc.path), tc.path)
	}
}

func FuzzPathTemplate(f *testing.F) {
	f.Add("/product/123/../%2e%2e")
	f.Fuzz(func(t *testing.T, path string) {
		got := PathTemplate(path)
		require.True(t, strings.HasPrefix(got, "/"))
		require.LessOrEqual(t, strings.Count(got, "/"), maxTemplateSegments+1)
	})
}
