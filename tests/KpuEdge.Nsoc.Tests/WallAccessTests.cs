using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using KpuEdge.Core.Security;
using KpuEdge.Nsoc.Incidents;
using KpuEdge.Nsoc.Wall;
using Microsoft.Extensions.DependencyInjection;

namespace KpuEdge.Nsoc.Tests;

/// <summary>Nothing of the wall without a session; nothing changed without the CSRF token and the operator role; every action audited.</summary>
public sealed class WallAccessTests(NsocCloud nsoc) : IClassFixture<NsocCloud>
{
    private HttpClient Client(CookieContainer? cookies = null) =>
        new(new HttpClientHandler { CookieContainer = cookies ?? new CookieContainer(), AllowAutoRedirect = false }) { BaseAddress = nsoc.Cloud.WallBase };

    private static async Task<JsonElement> JsonAsync(HttpResponseMessage response) =>
        JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement.Clone();

    private async Task<(HttpClient Http, string Csrf)> LoginAsync(string name, string password)
    {
        var http = Client();
        var response = await http.PostAsJsonAsync("nsoc/api/login", new { name, password });
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        return (http, (await JsonAsync(response)).GetProperty("csrf").GetString()!);
    }

    [Theory]
    [InlineData("nsoc/")]
    [InlineData("nsoc/wall.js")]
    public async Task Pages_send_an_anonymous_visitor_to_the_login(string path)
    {
        var response = await Client().GetAsync(path);
        Assert.Equal(HttpStatusCode.Redirect, response.StatusCode);
        Assert.Equal("/nsoc/login", response.Headers.Location!.ToString());
    }

    [Theory]
    [InlineData("GET", "nsoc/api/wall")]
    [InlineData("GET", "nsoc/api/stream")]
    [InlineData("GET", "nsoc/api/incidents")]
    [InlineData("GET", "nsoc/api/region/91")]
    [InlineData("GET", "nsoc/api/device/dev-x?place=91")]
    [InlineData("GET", "nsoc/api/audit")]
    [InlineData("POST", "nsoc/api/incidents/1/ack")]
    [InlineData("POST", "nsoc/api/accounts")]
    public async Task The_api_answers_an_anonymous_caller_401(string method, string path)
    {
        var response = await Client().SendAsync(new HttpRequestMessage(new HttpMethod(method), path));
        Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
    }

    [Fact]
    public async Task The_wall_and_the_public_api_do_not_share_a_port()
    {
        Assert.Equal(HttpStatusCode.NotFound, (await Client().GetAsync("api/v1/status")).StatusCode);
        using var api = new HttpClient { BaseAddress = nsoc.Cloud.ApiBase };
        Assert.Equal(HttpStatusCode.NotFound, (await api.GetAsync("nsoc/login")).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await Client().GetAsync("nsoc/login")).StatusCode);
    }

    [Fact]
    public async Task Wrong_passwords_are_refused_audited_and_lock_the_name()
    {
        var accounts = nsoc.Cloud.Services.GetRequiredService<KpuEdge.Access.OperatorAccounts<KpuEdge.Nsoc.Incidents.NsocRole>>();
        await accounts.CreateAsync("locked-out", NsocRole.Viewer, "kata-sandi-yang-benar", "test", null);
        for (int i = 0; i < 5; i++)
            Assert.Equal(HttpStatusCode.Unauthorized, (await Client().PostAsJsonAsync("nsoc/api/login", new { name = "locked-out", password = "salah-salah-salah" })).StatusCode);
        // Locked now, even with the right password.
        Assert.Equal(HttpStatusCode.Unauthorized, (await Client().PostAsJsonAsync("nsoc/api/login", new { name = "locked-out", password = "kata-sandi-yang-benar" })).StatusCode);
        var audit = await nsoc.Cloud.Services.GetRequiredService<IncidentStore>().AuditTrailAsync(0, 1000);
        Assert.Equal(5, audit.Count(a => a.Account == "locked-out" && a.Action == "login_failed"));
        Assert.Contains(audit, a => a.Account == "locked-out" && a.Action == "login_locked");
        // A form post (not JSON) is not a login.
        var form = await Client().PostAsync("nsoc/api/login", new FormUrlEncodedContent([new("name", "admin"), new("password", nsoc.AdminPassword)]));
        Assert.Equal(HttpStatusCode.UnsupportedMediaType, form.StatusCode);
    }

    [Fact]
    public async Task Changes_need_the_csrf_token_and_the_operator_role_and_are_audited()
    {
        var store = nsoc.Cloud.Services.GetRequiredService<IncidentStore>();
        long id = (await store.RaiseAsync([new Alert("tamper", "dev-csrf", SecuritySeverity.Critical, "Casing dibuka — dev-csrf", "x", DateTimeOffset.UtcNow)], TimeSpan.FromMinutes(15)))[0];

        var (op, csrf) = await LoginAsync("admin", nsoc.AdminPassword);
        Assert.Equal(HttpStatusCode.Forbidden, (await op.PostAsJsonAsync($"nsoc/api/incidents/{id}/ack", new { note = "tanpa token" })).StatusCode);
        var withToken = new HttpRequestMessage(HttpMethod.Post, $"nsoc/api/incidents/{id}/ack") { Content = JsonContent.Create(new { note = "petugas dikirim" }) };
        withToken.Headers.Add(KpuEdge.Access.OperatorAccounts<KpuEdge.Nsoc.Incidents.NsocRole>.CsrfHeader, csrf);
        var acked = await op.SendAsync(withToken);
        Assert.Equal(HttpStatusCode.OK, acked.StatusCode);
        Assert.Equal("acknowledged", (await JsonAsync(acked)).GetProperty("state").GetString());

        // An operator makes a viewer; the viewer sees, but may not act.
        var make = new HttpRequestMessage(HttpMethod.Post, "nsoc/api/accounts") { Content = JsonContent.Create(new { name = "pemantau", password = "pemantau-kata-sandi", role = "viewer" }) };
        make.Headers.Add(KpuEdge.Access.OperatorAccounts<KpuEdge.Nsoc.Incidents.NsocRole>.CsrfHeader, csrf);
        Assert.Equal(HttpStatusCode.Created, (await op.SendAsync(make)).StatusCode);
        var (viewer, viewerCsrf) = await LoginAsync("pemantau", "pemantau-kata-sandi");
        Assert.Equal(HttpStatusCode.OK, (await viewer.GetAsync("nsoc/api/incidents")).StatusCode);
        var resolve = new HttpRequestMessage(HttpMethod.Post, $"nsoc/api/incidents/{id}/resolve") { Content = JsonContent.Create(new { note = "x" }) };
        resolve.Headers.Add(KpuEdge.Access.OperatorAccounts<KpuEdge.Nsoc.Incidents.NsocRole>.CsrfHeader, viewerCsrf);
        Assert.Equal(HttpStatusCode.Forbidden, (await viewer.SendAsync(resolve)).StatusCode);
        Assert.Equal(HttpStatusCode.Forbidden, (await viewer.GetAsync("nsoc/api/audit")).StatusCode);

        // Bad requests: an unknown action, an unknown incident, acknowledging twice.
        async Task<HttpStatusCode> Act(string path)
        {
            var r = new HttpRequestMessage(HttpMethod.Post, path) { Content = JsonContent.Create(new { note = "n" }) };
            r.Headers.Add(KpuEdge.Access.OperatorAccounts<KpuEdge.Nsoc.Incidents.NsocRole>.CsrfHeader, csrf);
            return (await op.SendAsync(r)).StatusCode;
        }
        Assert.Equal(HttpStatusCode.Conflict, await Act($"nsoc/api/incidents/{id}/delete"));
        Assert.Equal(HttpStatusCode.NotFound, await Act("nsoc/api/incidents/999999/ack"));
        Assert.Equal(HttpStatusCode.Conflict, await Act($"nsoc/api/incidents/{id}/ack"));

        var audit = await store.AuditTrailAsync(0, 1000);
        Assert.Contains(audit, a => a.Account == "admin" && a.Action == "acknowledge" && a.IncidentId == id && a.Detail == "petugas dikirim");
        Assert.Contains(audit, a => a.Account == "admin" && a.Action == "account_create" && a.Detail.StartsWith("pemantau"));
        Assert.Contains(audit, a => a.Account == "pemantau" && a.Action == "login");
        Assert.DoesNotContain(audit, a => a.Account == "pemantau" && a.Action == "resolve");
    }
}
