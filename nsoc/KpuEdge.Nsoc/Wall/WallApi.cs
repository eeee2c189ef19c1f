using System.Text.Json;
using KpuEdge.Core.Protocol;
using KpuEdge.Core.Regions;
using KpuEdge.Core.Security;
using KpuEdge.Nsoc.Fleet;
using KpuEdge.Nsoc.Incidents;
using KpuEdge.Nsoc.Rules;
using KpuEdge.Nsoc.Telemetry;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;

namespace KpuEdge.Nsoc.Wall;

/// <summary>
/// The wall and its API, under <c>/nsoc/</c> on the wall's own port: pages, live state over server-sent events,
/// drill-down, incidents and operators' actions. Every route but the login page and its script needs a session; every
/// change also its CSRF token and the operator role; every change is audited by the store in the same transaction.
/// </summary>
public static class WallApi
{
    private static readonly JsonSerializerOptions Json = KpuJson.Wire;
    public const string Prefix = "/nsoc";
    /// <summary>The session cookie (HttpOnly, SameSite=Strict, path /nsoc).</summary>
    public const string CookieName = "kpu_nsoc";

    /// <summary>Maps the wall; requests on <paramref name="wallPort"/> reach only it, and it answers on no other port.</summary>
    public static void MapWall(this WebApplication app, int wallPort)
    {
        app.Use(async (context, next) =>
        {
            bool onWallPort = context.Connection.LocalPort == wallPort;
            if (onWallPort && context.Request.Path == "/")
            {
                context.Response.Redirect(Prefix + "/");
                return;
            }
            // The wall's paths on its port only, and nothing else there (the public portal owns "/" on the API's port).
            if (onWallPort != context.Request.Path.StartsWithSegments(Prefix))
            {
                context.Response.StatusCode = 404;
                return;
            }
            context.Response.Headers["X-Content-Type-Options"] = "nosniff";
            if (onWallPort) ScreenAssets.SecureHeaders(context.Response);
            await next();
        });

        var sessions = app.Services.GetRequiredService<SessionEndpoints<NsocRole>>();
        var wall = app.MapGroup(Prefix);
        wall.MapGet("/login", () => Asset("login.html"));
        wall.MapGet("/login.js", ScreenAssets.LoginScript);
        wall.MapGet("/wall.css", () => Asset("wall.css"));
        var authed = wall.MapGroup("").AddEndpointFilter(sessions.RequireSession);
        sessions.Map(wall, authed);
        authed.MapGet("/", () => Asset("wall.html"));
        authed.MapGet("/wall.js", () => Asset("wall.js"));
        authed.MapGet("/api/wall", WallAsync);
        authed.MapGet("/api/stream", StreamAsync);
        authed.MapGet("/api/incidents", async (IncidentStore store, bool? all, string? region) =>
            region is not null && !RegionCode.TryParse(region, out _) ? Bad("Kode wilayah tidak dikenal.")
                : Results.Json(new { incidents = await store.ListAsync(all == true, 500, region is "0" ? null : region) }, Json));
        authed.MapGet("/api/incidents/{id:long}", async (long id, IncidentStore store) =>
            await store.GetAsync(id) is { } incident ? Results.Json(incident, Json) : Results.NotFound());
        authed.MapPost("/api/incidents/{id:long}/{action}", ActAsync).AddEndpointFilter(sessions.RequireCsrf).AddEndpointFilter((c, n) => sessions.RequireRole(NsocRole.Operator, "Hanya operator yang boleh melakukan ini.", c, n));
        authed.MapGet("/api/region/{code}", RegionAsync);
        authed.MapGet("/api/device/{id}", DeviceAsync);
        authed.MapGet("/api/audit", async (IncidentStore store, long? after) => Results.Json(new { audit = await store.AuditTrailAsync(after ?? 0, 500) }, Json))
            .AddEndpointFilter((c, n) => sessions.RequireRole(NsocRole.Operator, "Hanya operator yang boleh melakukan ini.", c, n));
        authed.MapPost("/api/accounts", CreateAccountAsync).AddEndpointFilter(sessions.RequireCsrf).AddEndpointFilter((c, n) => sessions.RequireRole(NsocRole.Operator, "Hanya operator yang boleh melakukan ini.", c, n));
    }

    private static IResult Bad(string message) => Results.Json(new { error = message }, Json, statusCode: 400);

    private static IResult Asset(string name) => ScreenAssets.Serve(typeof(WallApi).Assembly, "wall", name);

    private static NsocSession Session(HttpContext c) => SessionEndpoints<NsocRole>.Session(c);

    private sealed record ActionRequest(string? Note);

    private static async Task<IResult> ActAsync(long id, string action, HttpContext http, IncidentStore store, TimeProvider time)
    {
        ActionRequest? request = null;
        if (http.Request.ContentLength is > 0 || http.Request.ContentType is not null)
        {
            if (!http.Request.HasJsonContentType()) return Results.Json(new { error = "Kirim JSON." }, Json, statusCode: 415);
            try { request = await http.Request.ReadFromJsonAsync<ActionRequest>(Json); }
            catch (JsonException) { return Bad("Permintaan tidak terbaca."); }
        }
        string? note = request?.Note?.Trim();
        if (note is { Length: > 2000 }) return Bad("Catatan paling panjang 2.000 karakter.");
        string account = Session(http).Account, source = http.Connection.RemoteIpAddress?.ToString() ?? "";
        try
        {
            var incident = action switch
            {
                "ack" => await store.AcknowledgeAsync(id, account, note, time.GetUtcNow(), source),
                "resolve" => await store.ResolveAsync(id, account, note, time.GetUtcNow(), source),
                "note" when !string.IsNullOrWhiteSpace(note) => await store.AddNoteAsync(id, account, note, time.GetUtcNow(), source),
                "note" => null,
                _ => throw new IncidentActionException($"Tindakan '{action}' tidak dikenal (ack, resolve, note)."),
            };
            return incident is null ? Bad("Catatan kosong.") : Results.Json(incident, Json);
        }
        catch (KeyNotFoundException e) { return Results.Json(new { error = e.Message }, Json, statusCode: 404); }
        catch (IncidentActionException e) { return Results.Json(new { error = e.Message }, Json, statusCode: 409); }
    }

    private sealed record AccountRequest(string? Name, string? Password, NsocRole? Role);

    private static async Task<IResult> CreateAccountAsync(HttpContext http, OperatorAccounts<NsocRole> accounts)
    {
        AccountRequest? request;
        try { request = await http.Request.ReadFromJsonAsync<AccountRequest>(Json); }
        catch (Exception e) when (e is JsonException or InvalidOperationException) { return Bad("Permintaan tidak terbaca."); }
        if (request is not { Name: { } name, Password: { } password, Role: { } role }) return Bad("Nama, kata sandi dan peran wajib diisi.");
        try
        {
            return await accounts.CreateAsync(name, role, password, Session(http).Account, http.Connection.RemoteIpAddress?.ToString())
                ? Results.Json(new { name, role }, Json, statusCode: 201)
                : Results.Json(new { error = $"Akun '{name}' sudah ada." }, Json, statusCode: 409);
        }
        catch (ArgumentException e) { return Bad(e.Message.Split(" (Parameter")[0]); }
    }

    /// <summary>Counters, map and nodes, with what the incident store says now.</summary>
    private static async Task<object> WallStateAsync(IGrainFactory grains, IncidentStore store, RegionTree tree)
    {
        var state = await grains.GetGrain<INsocGrain>(0).Wall();
        var counts = await store.OpenCountsAsync();
        var provinces = tree.ChildrenOf(RegionCode.Nasional).Select(p =>
        {
            string code = p.ToString();
            var fleet = state.Fleet.GetValueOrDefault(code) ?? new FleetCounts();
            return new
            {
                code, name = tree.NameOf(p), tps = tree.TpsCountOf(p), reported = state.Progress.GetValueOrDefault(code),
                seen = fleet.Seen, online = fleet.Online, silent = fleet.Silent, tamper = fleet.TamperOpen, battery_low = fleet.BatteryLow,
                on_battery = fleet.OnBattery, clock_skewed = fleet.ClockSkewed, outbox_forms = fleet.OutboxForms,
            };
        }).ToList();
        long devices = tree.TpsTotal;
        return new
        {
            at = state.At,
            devices = new
            {
                expected = devices, online = provinces.Sum(p => p.online), silent = provinces.Sum(p => p.silent),
                never_seen = Math.Max(0, devices - provinces.Sum(p => p.seen)), tamper = provinces.Sum(p => p.tamper),
                battery_low = provinces.Sum(p => p.battery_low),
            },
            ingest = new
            {
                forms_per_second = Math.Round(state.FormsPerSecond, 1),
                backlog = state.Nodes.Sum(n => n.Backlog),
                p99_ms = state.Nodes.Select(n => n.P99Milliseconds).Where(p => p is not null).DefaultIfEmpty().Max(),
                tps_reported = state.Progress.Values.Sum(), tps_total = tree.TpsTotal,
            },
            nodes = state.Nodes,
            incidents = new
            {
                critical = counts[SecuritySeverity.Critical], warning = counts[SecuritySeverity.Warning], info = counts[SecuritySeverity.Info],
                version = await store.VersionAsync(),
            },
            provinces,
        };
    }

    private static async Task<IResult> WallAsync(IGrainFactory grains, IncidentStore store, RegionTree tree) =>
        Results.Json(await WallStateAsync(grains, store, tree), Json);

    /// <summary>
    /// Server-sent events: <c>wall</c> (the counters and map) every second, and <c>incident</c> for each incident changed
    /// since the last (from the store's version: every node's wall sees every change, whichever node made it), pushed
    /// at once when the change was made on this node.
    /// </summary>
    private static async Task StreamAsync(HttpContext http, IGrainFactory grains, IncidentStore store, RegionTree tree, TimeProvider time, long? after)
    {
        http.Response.Headers.ContentType = "text/event-stream";
        http.Response.Headers.CacheControl = "no-store";
        http.Response.Headers["X-Accel-Buffering"] = "no";
        var ct = http.RequestAborted;
        long version = after ?? await store.VersionAsync();
        try
        {
            while (!ct.IsCancellationRequested)
            {
                foreach (var incident in await store.ChangedAfterAsync(version, 200))
                {
                    version = Math.Max(version, incident.Version);
                    await http.Response.WriteAsync($"event: incident\nid: {incident.Version}\ndata: {JsonSerializer.Serialize(incident, Json)}\n\n", ct);
                }
                await http.Response.WriteAsync($"event: wall\ndata: {JsonSerializer.Serialize(await WallStateAsync(grains, store, tree), Json)}\n\n", ct);
                await http.Response.Body.FlushAsync(ct);
                // At the next change on this node, or within a second (another node's change, the counters); at most
                // ten pushes a second however fast incidents change.
                var next = store.NextChange;
                await Task.Delay(TimeSpan.FromMilliseconds(100), time, ct);
                await Task.WhenAny(next, Task.Delay(TimeSpan.FromMilliseconds(900), time, ct));
                ct.ThrowIfCancellationRequested();
            }
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested) { }
    }

    private static async Task<IResult> RegionAsync(string code, IGrainFactory grains, IncidentStore store, RegionTree tree, TimeProvider time, NsocRules rules)
    {
        if (!RegionCode.TryParse(code, out var region) || region.Level == RegionLevel.Tps || !tree.TryGet(region, out var node))
            return Results.Json(new { error = $"Wilayah '{code}' tidak dikenal." }, Json, statusCode: 404);
        var now = time.GetUtcNow();
        var bounds = FleetBounds.From(rules);
        var childLength = region.Level switch
        {
            RegionLevel.Nasional => 2, RegionLevel.Provinsi => 4, RegionLevel.KabKota => 6, _ => 10,
        };
        Dictionary<string, FleetCounts> counts;
        if (region.IsNasional)
        {
            var provinces = tree.ChildrenOf(region).Select(p => p.ToString()).ToArray();
            var each = await Task.WhenAll(provinces.Select(p => grains.GetGrain<IFleetGrain>(p).Breakdown(p, 2, now, bounds)));
            counts = each.SelectMany(d => d).ToDictionary(p => p.Key, p => p.Value, StringComparer.Ordinal);
        }
        else
        {
            counts = await grains.GetGrain<IFleetGrain>(region.Value[..2]).Breakdown(region.Value, childLength, now, bounds);
        }
        var children = tree.ChildrenOf(region).Select(c =>
        {
            var f = counts.GetValueOrDefault(c.ToString()) ?? new FleetCounts();
            return new { code = c.ToString(), name = tree.NameOf(c), tps = tree.TpsCountOf(c), seen = f.Seen, online = f.Online, silent = f.Silent, tamper = f.TamperOpen, battery_low = f.BatteryLow };
        }).ToList();
        var devices = region.Level is RegionLevel.Kecamatan or RegionLevel.Desa
            ? await grains.GetGrain<IFleetGrain>(region.Value[..2]).Devices(region.Value, now, bounds, 1000)
            : [];
        var incidents = await store.ListAsync(false, 200, region.IsNasional ? null : region.Value);
        return Results.Json(new { code = region.ToString(), name = node.Name, level = region.Level.ToString().ToLowerInvariant(), children, devices, incidents }, Json);
    }

    private static async Task<IResult> DeviceAsync(string id, IGrainFactory grains, IncidentStore store, InfluxHistory history, TimeProvider time, NsocRules rules, string? place, int? hours)
    {
        if (!DeviceName.IsValid(id)) return Bad("Nama perangkat tidak sah.");
        if (place is null || place.Length < 2 || !place.All(char.IsAsciiDigit)) return Bad("Sertakan ?place= (kode TPS atau kecamatan perangkat).");
        var row = await grains.GetGrain<IFleetGrain>(place[..2]).Device(id, time.GetUtcNow(), FleetBounds.From(rules));
        object series;
        try
        {
            var (health, events) = await history.DeviceAsync(id, hours ?? 6, CancellationToken.None);
            series = new { health, events };
        }
        catch (HttpRequestException e)
        {
            series = new { error = $"Riwayat dari InfluxDB tidak tersedia: {e.Message}" };
        }
        var incidents = (await store.ListAsync(true, 200, place)).Where(i => i.DeviceId == id).ToList();
        return row is null && incidents.Count == 0
            ? Results.Json(new { error = $"Perangkat '{id}' belum pernah melapor." }, Json, statusCode: 404)
            : Results.Json(new { device = row, history = series, incidents }, Json);
    }
}
