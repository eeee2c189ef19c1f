using System.Text.Json;
using KpuEdge.Access;
using KpuEdge.Core.Elections;
using KpuEdge.Core.Protocol;
using KpuEdge.Core.Tally;
using KpuEdge.Crypto;
using KpuEdge.Edge.Commands;
using KpuEdge.Edge.Delivery;
using KpuEdge.Vision.Reading;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace KpuEdge.Edge.Screen;

/// <summary>
/// The KPPS's screen on the TPS device (<c>kpu-edge run --screen</c>), shown in kiosk Chromium on the device's touchscreen
/// and bound to localhost only, in Bahasa Indonesia: take the photos → the reading beside them, the flagged fields
/// first with why → confirm or correct, every rule re-checked as one types → sign with the KPPS chair's PIN (never while
/// a rule breaks) → the witness QR → where each contest's form stands on its way (waiting, sent, receipted with a
/// verified proof, photos stored). A second version of a contest is a correction and carries its reason.
/// Changes need the header <c>X-KPPS: 1</c>, which no other site's page can send without the browser asking first.
/// </summary>
public sealed class KppsScreen : IAsyncDisposable
{
    public const string Prefix = "/kpps";
    private const string Header = "X-KPPS";
    private const int MaxPhotoBytes = 12 * 1024 * 1024;
    private static readonly JsonSerializerOptions Json = KpuJson.Wire;

    private readonly ScreenHost _host;
    private readonly KppsDesk _desk;

    public KppsScreen(KppsDesk desk, string url, ILoggerFactory? logging = null)
    {
        var uri = new Uri(url);
        if (!uri.IsLoopback) throw new ArgumentException($"The KPPS screen is served on the device only (localhost), not on {uri.Host}.", nameof(url));
        _desk = desk;
        _host = new ScreenHost(url, Prefix, Map, logging, maxRequestBytes: 6 * MaxPhotoBytes);
    }

    public Uri Address => _host.Address;

    public Task StartAsync(CancellationToken cancellationToken = default) => _host.StartAsync(cancellationToken);

    private void Map(WebApplication app, RouteGroupBuilder screen)
    {
        app.Use(async (context, next) =>
        {
            if (HttpMethods.IsPost(context.Request.Method) && context.Request.Headers[Header] != "1")
            {
                context.Response.StatusCode = 403;
                await context.Response.WriteAsJsonAsync(new { error = "Permintaan bukan dari layar KPPS." }, Json);
                return;
            }
            await next();
        });
        screen.MapGet("/", () => Asset("kpps.html"));
        screen.MapGet("/kpps.js", () => Asset("kpps.js"));
        screen.MapGet("/kpps.css", () => Asset("kpps.css"));
        screen.MapGet("/api/device", () => Results.Json(new
        {
            device_id = _desk.DeviceId, tps = _desk.Tps.Value, contests = _desk.Contests.Select(c => c.Slug()), pin_set = _desk.PinSet,
        }, Json));
        screen.MapPost("/api/scan", (Delegate)ScanAsync);
        screen.MapGet("/api/scan/{id}/photos/{page:int}", (string id, int page) =>
            _desk.Find(id) is { } scan && page >= 1 && page <= scan.Photos.Count ? Results.Bytes(scan.Photos[page - 1], "image/jpeg") : Results.NotFound());
        screen.MapGet("/api/scan/{id}/crops/{key}", (string id, string key) =>
            _desk.Crop(id, key) is { } png ? Results.Bytes(png, "image/png") : Results.NotFound());
        screen.MapPost("/api/check", (Delegate)CheckAsync);
        screen.MapPost("/api/sign", (Delegate)SignAsync);
        screen.MapGet("/api/qr/{hash}", (string hash) =>
            Sha256Hash.TryParseHex(hash, out var h) && !h.IsEmpty && _desk.WitnessQr(h) is { } png ? Results.Bytes(png, "image/png") : Results.NotFound());
        screen.MapGet("/api/status", Status);
        screen.MapGet("/api/tally/{contest}", (string contest) =>
            Contests.TryParseSlug(contest, out var c) && _desk.Newest(c) is { } entry
                ? Results.Json(new { tally = SignedSubmission.Decode(entry.Wire).Submission.Tally }, Json)
                : Results.NotFound());
    }

    private static IResult Asset(string name) => ScreenAssets.Serve(typeof(KppsScreen).Assembly, "kpps", name);

    private static IResult Error(int status, string message, IReadOnlyList<Violation>? violations = null) =>
        Results.Json(new { error = message, violations = violations?.Select(ViolationJson) }, Json, statusCode: status);

    private static object ViolationJson(Violation v) => new { field = v.Field, rule = v.Rule, message = v.Message };

    /// <summary>The page photos of one contest (multipart: <c>photo</c> files, optional <c>contest</c>) → the reading.</summary>
    private async Task<IResult> ScanAsync(HttpContext http)
    {
        if (!http.Request.HasFormContentType) return Error(415, "Kirim foto formulir (multipart/form-data).");
        var form = await http.Request.ReadFormAsync();
        ContestId? contest = null;
        if (form["contest"].FirstOrDefault() is { Length: > 0 } slug)
        {
            if (!Contests.TryParseSlug(slug, out var c)) return Error(400, $"Kontestasi '{slug}' tidak dikenal.");
            contest = c;
        }
        var photos = new List<byte[]>();
        foreach (var file in form.Files.Where(f => f.Name == "photo").Take(6))
        {
            if (file.Length is 0 or > MaxPhotoBytes) return Error(400, $"Foto {file.FileName}: kosong atau lebih dari {MaxPhotoBytes / (1024 * 1024)} MB.");
            using var memory = new MemoryStream();
            await file.CopyToAsync(memory);
            photos.Add(memory.ToArray());
        }
        try
        {
            var read = _desk.Read(photos, contest);
            return Results.Json(ScanJson(read), Json);
        }
        catch (ScanException e) { return Error(422, e.Message); }
        catch (KppsRefusal e) { return Error(400, e.Message); }
    }

    private static object ScanJson(KppsScan read)
    {
        var scan = read.Scan;
        return new
        {
            id = read.Id,
            contest = scan.Contest.Slug(),
            tps = scan.Tps.Value,
            photos = read.Photos.Count,
            auto_accepted = scan.AutoAccepted,
            flagged = scan.Flagged.Count(),
            // The flagged fields first, each with why; then the rest in the form's order.
            fields = scan.Fields.OrderBy(f => f.AutoAccepted).Select(f => new
            {
                key = f.Key, label = f.Label, page = f.Page, value = f.Value, proposed = f.Proposed, confidence = Math.Round(f.Confidence, 3),
                handwriting = f.HandwritingValue, bubbles = f.BubbleValue, flags = f.Flags, why = f.Flags.Select(ScanCommand.Explain),
            }),
            violations = scan.Violations.Select(ViolationJson),
            tally = scan.Tally,
        };
    }

    private sealed record CheckRequest(C1Tally? Tally);

    private sealed record SignRequest(C1Tally? Tally, string? ScanId, string? Pin, string? CorrectionReason);

    private async Task<IResult> CheckAsync(HttpContext http)
    {
        var request = await ReadAsync<CheckRequest>(http);
        if (request?.Tally is not { } tally) return Error(400, "Kirim angka (tally) untuk diperiksa.");
        return Results.Json(new { violations = _desk.Check(tally).Select(ViolationJson) }, Json);
    }

    private async Task<IResult> SignAsync(HttpContext http)
    {
        var request = await ReadAsync<SignRequest>(http);
        if (request?.Tally is not { } tally) return Error(400, "Kirim angka yang sudah diperiksa (tally).");
        try
        {
            var signed = _desk.Sign(tally, request.ScanId, request.Pin, request.CorrectionReason);
            return Results.Json(new
            {
                hash = signed.Hash.ToString(), sequence = signed.Submission.Sequence, contest = tally.Contest.Slug(),
                correction_reason = signed.Submission.CorrectionReason, qr = $"{Prefix}/api/qr/{signed.Hash}",
            }, Json);
        }
        catch (KppsRefusal e) { return Error(e.Violations.Count > 0 ? 422 : 400, e.Message, e.Violations); }
    }

    private IResult Status() => Results.Json(new
    {
        contests = _desk.Status().Select(s => new
        {
            contest = s.Contest.Slug(),
            delivery = s.Entry is null ? "not_signed" : s.Entry.State switch
            {
                OutboxState.Queued => "waiting", OutboxState.Sent => "sent", OutboxState.Receipted => "receipted", _ => "rejected",
            },
            hash = s.Entry?.Hash.ToString(),
            sequence = s.Entry?.Sequence,
            log_index = s.Entry?.LogIndex,
            reason = s.Entry?.Reason,
            versions = s.Versions,
            photos = new { pages = s.Photos.Pages, stored = s.Photos.Stored, refused = s.Photos.Refused },
        }),
    }, Json);

    private static async Task<T?> ReadAsync<T>(HttpContext http) where T : class
    {
        if (!http.Request.HasJsonContentType() || http.Request.ContentLength > 64 * 1024) return null;
        try { return await http.Request.ReadFromJsonAsync<T>(Json); }
        catch (JsonException) { return null; }
    }

    public ValueTask DisposeAsync() => _host.DisposeAsync();
}
