using System.Text.Json;
using KpuEdge.Access;
using KpuEdge.Core.Elections;
using KpuEdge.Core.Protocol;
using KpuEdge.Core.Regions;
using KpuEdge.Core.Tally;
using KpuEdge.Crypto.Ppk;
using KpuEdge.Edge.Delivery;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace KpuEdge.Edge.Station;

/// <summary>
/// The PPK station's screen on the kecamatan LAN (<c>kpu-edge relay --screen URL</c>), in Bahasa Indonesia: nothing
/// answers without a session (<see cref="KpuEdge.Access"/>); viewers see every TPS × contest with its status, the photo
/// pages beside the signed numbers and the rules, every statement with its delivery; PPK operators verify, record a
/// keberatan, correct at the plenary (every rule re-checked on the station before it signs) and sign the D.Hasil.
/// </summary>
public sealed class StationScreen : IAsyncDisposable
{
    public const string Prefix = "/ppk";
    public const string CookieName = "kpu_ppk";
    private static readonly JsonSerializerOptions Json = KpuJson.Wire;

    private readonly ScreenHost _host;
    private readonly StationDesk _desk;
    private readonly StationAccounts _store;
    private readonly OperatorAccounts<PpkRole> _accounts;
    private readonly SessionEndpoints<PpkRole> _sessions;
    private readonly string _adminPasswordFile;

    /// <param name="url">Where to listen (http://0.0.0.0:8070 on the kecamatan LAN; port 0 for any free port).</param>
    /// <param name="folder">The station's folder: its accounts in <see cref="StationAccounts.FileName"/>, the first password beside it.</param>
    public StationScreen(StationDesk desk, string folder, string url, bool secureCookies = false, TimeProvider? time = null, ILoggerFactory? logging = null)
    {
        _desk = desk;
        time ??= TimeProvider.System;
        logging ??= LoggerFactory.Create(b => b.AddSimpleConsole(o => o.SingleLine = true).SetMinimumLevel(LogLevel.Warning));
        _store = new StationAccounts(Path.Combine(folder, StationAccounts.FileName));
        _accounts = new OperatorAccounts<PpkRole>(_store, TimeSpan.FromHours(12), time, logging.CreateLogger<StationScreen>());
        _sessions = new SessionEndpoints<PpkRole>(_accounts, Prefix, CookieName, () => secureCookies, Json);
        _adminPasswordFile = Path.Combine(folder, "screen-admin-password");
        _host = new ScreenHost(url, Prefix, (_, screen) => Map(screen), logging);
    }

    public OperatorAccounts<PpkRole> Accounts => _accounts;

    /// <summary>Where the first account's password was written at the first start.</summary>
    public string AdminPasswordFile => _adminPasswordFile;

    /// <summary>The screen's address once started (the port chosen when asked for 0).</summary>
    public Uri Address => _host.Address;

    public async Task StartAsync(CancellationToken cancellationToken = default)
    {
        await _accounts.EnsureFirstOperatorAsync(PpkRole.Operator, _adminPasswordFile, "Stasiun PPK");
        await _host.StartAsync(cancellationToken);
    }

    private void Map(RouteGroupBuilder screen)
    {
        screen.MapGet("/login", () => Asset("login.html"));
        screen.MapGet("/login.js", ScreenAssets.LoginScript);
        screen.MapGet("/ppk.css", () => Asset("ppk.css"));
        var authed = screen.MapGroup("").AddEndpointFilter(_sessions.RequireSession);
        _sessions.Map(screen, authed);
        authed.MapGet("/", () => Asset("ppk.html"));
        authed.MapGet("/ppk.js", () => Asset("ppk.js"));
        authed.MapGet("/api/forms", Forms);
        authed.MapGet("/api/forms/{tps}/{contest}", (string tps, string contest) => OnForm(tps, contest, form => Results.Json(Detail(form), Json)));
        authed.MapGet("/api/forms/{tps}/{contest}/pages/{page:int}", (string tps, string contest, int page) => OnForm(tps, contest, form =>
        {
            var pages = _desk.Pages(form);
            return page >= 1 && page <= pages.Count ? Results.Bytes(pages[page - 1], "image/jpeg") : Results.NotFound();
        }));
        authed.MapPost("/api/check", (Delegate)CheckAsync).AddEndpointFilter(_sessions.RequireCsrf);
        authed.MapGet("/api/statements", Statements);
        authed.MapGet("/api/dhasil/{contest}", (string contest) => OnContest(contest, c => Results.Json(RecapPreview(c), Json)));

        var acting = authed.MapGroup("").AddEndpointFilter(_sessions.RequireCsrf)
            .AddEndpointFilter((c, n) => _sessions.RequireRole(PpkRole.Operator, "Hanya anggota PPK (operator) yang boleh melakukan ini.", c, n));
        acting.MapPost("/api/forms/{tps}/{contest}/verify", (string tps, string contest, HttpContext http) =>
            OnForm(tps, contest, form => Signed(http, "verify", _desk.Verify(form.Tps, form.Contest))));
        acting.MapPost("/api/forms/{tps}/{contest}/objection", (Delegate)ObjectAsync);
        acting.MapPost("/api/forms/{tps}/{contest}/correction", (Delegate)CorrectAsync);
        acting.MapPost("/api/dhasil/{contest}", (string contest, HttpContext http) => OnContest(contest, c => Signed(http, "dhasil", _desk.SignRecap(c))));
        acting.MapPost("/api/accounts", (Delegate)CreateAccountAsync);
    }

    private static IResult Asset(string name) => ScreenAssets.Serve(typeof(StationScreen).Assembly, "station", name);

    private static IResult Error(int status, string message, IReadOnlyList<Violation>? violations = null) =>
        Results.Json(new { error = message, violations = violations?.Select(ViolationJson) }, Json, statusCode: status);

    private static object ViolationJson(Violation v) => new { field = v.Field, rule = v.Rule, message = v.Message };

    private IResult OnForm(string tps, string contest, Func<DeskForm, IResult> then)
    {
        if (!TpsCode.TryParse(tps, out var code)) return Error(400, $"'{tps}' bukan kode TPS (13 angka).");
        if (!Contests.TryParseSlug(contest, out var c)) return Error(400, $"Kontestasi '{contest}' tidak dikenal.");
        try { return then(_desk.Form(code, c)); }
        catch (DeskRefusal e) { return Error(e.Violations.Count > 0 ? 422 : 400, e.Message, e.Violations); }
    }

    private IResult OnContest(string contest, Func<ContestId, IResult> then)
    {
        if (!Contests.TryParseSlug(contest, out var c)) return Error(400, $"Kontestasi '{contest}' tidak dikenal.");
        try { return then(c); }
        catch (DeskRefusal e) { return Error(400, e.Message); }
    }

    /// <summary>A statement just signed into the outbox: audited with the person who asked for it.</summary>
    private IResult Signed(HttpContext http, string action, SignedPpkStatement signed)
    {
        _store.AuditAsync(SessionEndpoints<PpkRole>.Session(http).Account, action,
            $"{PpkStatementKinds.Text(signed.Statement.Kind)} #{signed.Statement.Sequence} {signed.Hash}", DateTimeOffset.UtcNow, http.Connection.RemoteIpAddress?.ToString());
        return Results.Json(new { hash = signed.Hash.ToString(), sequence = signed.Statement.Sequence, kind = PpkStatementKinds.Text(signed.Statement.Kind) }, Json);
    }

    private IResult Forms() => Results.Json(new
    {
        station = _desk.StationId,
        kecamatan = _desk.Kecamatan.Value,
        nama = _desk.KecamatanName,
        forms = _desk.Forms().Select(f => new
        {
            tps = f.Tps.Value,
            contest = f.Contest.Slug(),
            status = PpkFormStatus.Text(f.Status.Review),
            delivery = f.Form is null ? null : DeliveryText(f.Form),
        }),
    }, Json);

    private object Detail(DeskForm form)
    {
        var signed = form.Signed;
        var device = signed?.Submission;
        return new
        {
            tps = form.Tps.Value,
            contest = form.Contest.Slug(),
            status = PpkFormStatus.Text(form.Status.Review),
            counted_by = form.Status.CountedByPpk ? "ppk" : form.Form is null ? null : "device",
            counted = form.Counted,
            rules = form.Counted is null ? null : _desk.Check(form.Counted).Select(ViolationJson),
            device = device is null ? null : new
            {
                hash = form.Form!.Hash.ToString(),
                device_id = device.DeviceId,
                sequence = device.Sequence,
                device_time = device.DeviceTime,
                correction_reason = device.CorrectionReason,
                tally = device.Tally,
                delivery = DeliveryText(form.Form),
                log_index = form.Form.LogIndex,
                // The cloud checks the device's signature against its registered certificate before it logs the form; the
                // station believes its receipt only once the log's proof verifies.
                signature = form.Form.State == OutboxState.Receipted ? "verified_by_cloud" : form.Form.State == OutboxState.Rejected ? "refused" : "pending",
            },
            pages = _desk.Pages(form).Count,
            statements = form.Status.Statements.Select(StatementJson),
        };
    }

    private object StatementJson(OutboxEntry entry)
    {
        var s = _desk.Decode(entry).Statement;
        return new
        {
            hash = entry.Hash.ToString(),
            kind = PpkStatementKinds.Text(s.Kind),
            sequence = s.Sequence,
            signed_at = s.StationTime,
            delivery = DeliveryText(entry),
            log_index = entry.LogIndex,
            reason = entry.Reason,
            finding = entry.Finding is null ? (JsonElement?)null : JsonDocument.Parse(entry.Finding).RootElement.Clone(),
            forms = s is KecamatanRecap d ? d.Summed.Count : s.Forms.Count,
            objection = s is PpkObjection o ? new { objector = o.Objector, text = o.Text } : null,
            correction = s is PpkCorrection c ? new { reason = c.Reason, replaces = c.Replaces.Hash.ToString() } : null,
            dhasil = s is KecamatanRecap r ? new { contest = r.Contest.Slug(), totals = r.Totals } : null,
        };
    }

    private IResult Statements() => Results.Json(new { statements = _desk.Statements().Select(s => StatementJson(s.Entry)) }, Json);

    private object RecapPreview(ContestId contest)
    {
        var (included, left, totals) = _desk.RecapPreview(contest);
        return new
        {
            contest = contest.Slug(),
            included = included.Select(f => f.Tps.Value),
            left = left.Select(f => new { tps = f.Tps.Value, status = PpkFormStatus.Text(f.Status.Review) }),
            totals,
            signed = _desk.Statements().Where(s => s.Signed.Statement is KecamatanRecap r && r.Contest == contest).Select(s => StatementJson(s.Entry)),
        };
    }

    private static string DeliveryText(OutboxEntry entry) => entry.State switch
    {
        OutboxState.Queued => "waiting",
        OutboxState.Sent => "sent",
        OutboxState.Receipted => "receipted",
        _ => "rejected",
    };

    private sealed record ObjectionRequest(string? Objector, string? Text);

    private sealed record CorrectionRequest(string? Reason, C1Tally? Tally);

    private sealed record CheckRequest(C1Tally? Tally);

    private async Task<IResult> ObjectAsync(string tps, string contest, HttpContext http)
    {
        var request = await ReadAsync<ObjectionRequest>(http);
        if (request is null) return Error(400, "Permintaan tidak terbaca.");
        return OnForm(tps, contest, form => Signed(http, "objection", _desk.Object(form.Tps, form.Contest, request.Objector ?? "", request.Text ?? "")));
    }

    private async Task<IResult> CorrectAsync(string tps, string contest, HttpContext http)
    {
        var request = await ReadAsync<CorrectionRequest>(http);
        if (request?.Tally is not { } tally) return Error(400, "Kirim angka koreksi (tally) dan alasannya.");
        return OnForm(tps, contest, form => Signed(http, "correction", _desk.Correct(form.Tps, form.Contest, tally, request.Reason ?? "")));
    }

    private async Task<IResult> CheckAsync(HttpContext http)
    {
        var request = await ReadAsync<CheckRequest>(http);
        if (request?.Tally is not { } tally) return Error(400, "Kirim angka (tally) untuk diperiksa.");
        if (!_desk.Kecamatan.Contains(tally.Tps.Region)) return Error(400, $"TPS {tally.Tps} bukan TPS kecamatan ini.");
        return Results.Json(new { violations = _desk.Check(tally).Select(ViolationJson) }, Json);
    }

    private sealed record AccountRequest(string? Name, string? Password, PpkRole? Role);

    private async Task<IResult> CreateAccountAsync(HttpContext http)
    {
        var request = await ReadAsync<AccountRequest>(http);
        if (request is not { Name: { } name, Password: { } password, Role: { } role }) return Error(400, "Nama, kata sandi dan peran wajib diisi.");
        try
        {
            return await _accounts.CreateAsync(name, role, password, SessionEndpoints<PpkRole>.Session(http).Account, http.Connection.RemoteIpAddress?.ToString())
                ? Results.Json(new { name, role }, Json)
                : Error(409, $"Akun '{name}' sudah ada.");
        }
        catch (ArgumentException e) { return Error(400, e.Message); }
    }

    private static async Task<T?> ReadAsync<T>(HttpContext http) where T : class
    {
        if (!http.Request.HasJsonContentType() || http.Request.ContentLength > 64 * 1024) return null;
        try { return await http.Request.ReadFromJsonAsync<T>(Json); }
        catch (JsonException) { return null; }
    }

    public async ValueTask DisposeAsync()
    {
        await _host.DisposeAsync();
        _store.Dispose();
    }
}
