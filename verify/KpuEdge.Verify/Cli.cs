using System.CommandLine;
using KpuEdge.Core.Elections;
using KpuEdge.Core.Regions;
using KpuEdge.Crypto;
using KpuEdge.Crypto.Transparency;

namespace KpuEdge.Verify;

/// <summary>
/// kpu-verify's command line. Exit codes: 0 every check passed, 1 a check failed, 2 the command could not check
/// (usage, unreadable file, log unreachable). Human output marks each check ✓ / ✗ (– when skipped); --json prints
/// the same report as JSON.
/// </summary>
public static class Cli
{
    public static async Task<int> RunAsync(string[] args, TextWriter stdout, TextWriter stderr, HttpClient? http = null, CancellationToken cancellationToken = default)
    {
        using var ownHttp = http is null ? new HttpClient { Timeout = TimeSpan.FromSeconds(60) } : null;
        var verifier = new Verifier(http ?? ownHttp!);

        var json = new Option<bool>("--json") { Description = "Print the report as JSON" };
        var log = new Option<string>("--log") { Description = "Base URL of the log's API, e.g. https://hasil.kpu.go.id", Required = true };
        var key = new Option<string>("--key") { Description = "The log's verifier key (<name>+<hash>+<base64 key>), or a file holding it; get it from KPU out of band, never from the log you check", Required = true };
        var rootPem = new Option<string>("--root") { Description = "KPU's root CA certificate (PEM), obtained out of band", Required = true };
        var issuingPem = new Option<string>("--issuing") { Description = "KPU's issuing CA certificate(s) (PEM)", Required = true };
        var crl = new Option<string?>("--crl") { Description = "A CRL of the issuing CA (DER)" };

        var submissionFile = new Argument<string>("FILE") { Description = "The signed submission: its wire bytes (CBOR)" };
        var cert = new Option<string>("--cert") { Description = "The device's signing certificate (PEM)", Required = true };
        var submission = new Command("submission", "Check a signed submission offline: encoding, device signature, certificate chain to your root at the device time, revocation, TPS assignment.")
            { submissionFile, rootPem, issuingPem, cert, crl, json };
        submission.SetAction(parse =>
        {
            var report = new VerificationReport("submission");
            if (!TryRead(parse.GetValue(submissionFile)!, report, out var wire)
                || !TryReadText(parse.GetValue(cert)!, report, out string? certificate)
                || !TryReadAnchors(parse.GetValue(rootPem)!, parse.GetValue(issuingPem)!, parse.GetValue(crl), report, out var anchors))
                return Emit(report, parse.GetValue(json), stdout);
            return Emit(Verifier.VerifySubmission(wire, certificate, anchors), parse.GetValue(json), stdout);
        });

        var hash = new Option<string?>("--hash") { Description = "Submission hash (64 hex digits)" };
        var tps = new Option<string?>("--tps") { Description = "13-digit TPS code (with --contest)" };
        var contest = new Option<string?>("--contest") { Description = "ppwp, dpr, dpd, dprd-prov or dprd-kab (with --tps)" };
        var submissionOption = new Option<string?>("--submission") { Description = "A signed submission file: its exact bytes must be the log's entry" };
        var inclusion = new Command("inclusion", "Check that a submission is in the log: the checkpoint's signature with your key, the inclusion proof, the entry.")
            { log, key, hash, tps, contest, submissionOption, json };
        inclusion.SetAction(async (parse, ct) =>
        {
            var report = new VerificationReport("inclusion");
            if (!TryLogAndKey(parse.GetValue(log)!, parse.GetValue(key)!, report, out var uri, out var logKey)) return Emit(report, parse.GetValue(json), stdout);
            string? hashText = parse.GetValue(hash), tpsText = parse.GetValue(tps), contestText = parse.GetValue(contest), file = parse.GetValue(submissionOption);
            int given = (hashText is null ? 0 : 1) + (tpsText is null && contestText is null ? 0 : 1) + (file is null ? 0 : 1);
            if (given != 1)
                return Emit(report.CannotCheck("usage", "Give exactly one of --hash HEX, --tps CODE --contest SLUG, or --submission FILE."), parse.GetValue(json), stdout);
            InclusionTarget target;
            if (hashText is not null)
            {
                if (!Sha256Hash.TryParseHex(hashText, out var h) || h.IsEmpty)
                    return Emit(report.CannotCheck("usage", $"'{hashText}' is not a SHA-256 hash (64 hex digits)."), parse.GetValue(json), stdout);
                target = new InclusionTarget.ByHash(h);
            }
            else if (file is not null)
            {
                if (!TryRead(file, report, out var wire)) return Emit(report, parse.GetValue(json), stdout);
                target = new InclusionTarget.BySubmission(wire);
            }
            else
            {
                if (!TpsCode.TryParse(tpsText, out var code))
                    return Emit(report.CannotCheck("usage", $"'{tpsText}' is not a TPS code (13 digits); --tps and --contest go together."), parse.GetValue(json), stdout);
                if (!TryParseContest(contestText, out var c))
                    return Emit(report.CannotCheck("usage", $"'{contestText}' is not a contest (ppwp, dpr, dpd, dprd-prov, dprd-kab)."), parse.GetValue(json), stdout);
                target = new InclusionTarget.ByTps(code, c);
            }
            return Emit(await verifier.VerifyInclusionAsync(uri, logKey, target, ct), parse.GetValue(json), stdout);
        });

        var oldCheckpoint = new Option<string>("--old") { Description = "A checkpoint you saved earlier (the signed note)", Required = true };
        var newCheckpoint = new Option<string?>("--new") { Description = "A later checkpoint file (default: the log's latest)" };
        var save = new Option<string?>("--save") { Description = "When consistent, write the new checkpoint here (your next --old)" };
        var consistency = new Command("consistency", "Check that the log only grew since a checkpoint you saved: both signed with your key, and the consistency proof.")
            { log, key, oldCheckpoint, newCheckpoint, save, json };
        consistency.SetAction(async (parse, ct) =>
        {
            var report = new VerificationReport("consistency");
            if (!TryLogAndKey(parse.GetValue(log)!, parse.GetValue(key)!, report, out var uri, out var logKey)
                || !TryReadText(parse.GetValue(oldCheckpoint)!, report, out string? oldNote))
                return Emit(report, parse.GetValue(json), stdout);
            string? newNote = null;
            if (parse.GetValue(newCheckpoint) is { } newFile && !TryReadText(newFile, report, out newNote)) return Emit(report, parse.GetValue(json), stdout);
            report = await verifier.VerifyConsistencyAsync(uri, logKey, oldNote, newNote, ct);
            // Exactly the note that verified, so its signature can be checked again next time.
            if (report.Ok && parse.GetValue(save) is { } savePath && report.VerifiedCheckpoint is { } verified)
            {
                try
                {
                    File.WriteAllText(savePath, verified);
                }
                catch (Exception e) when (e is IOException or UnauthorizedAccessException)
                {
                    report.CannotCheck("io_error", $"Verified, but cannot write {savePath}: {e.Message}");
                }
            }
            return Emit(report, parse.GetValue(json), stdout);
        });

        var photo = new Argument<string>("PHOTO") { Description = "A photo of the witness QR the TPS device showed" };
        var qr = new Command("qr", "Check a photographed witness QR: the submission in it, its device certificate against your root, its signature, and its inclusion in the log.")
            { photo, log, key, rootPem, issuingPem, crl, json };
        qr.SetAction(async (parse, ct) =>
        {
            var report = new VerificationReport("qr");
            if (!TryLogAndKey(parse.GetValue(log)!, parse.GetValue(key)!, report, out var uri, out var logKey)
                || !TryRead(parse.GetValue(photo)!, report, out var image)
                || !TryReadAnchors(parse.GetValue(rootPem)!, parse.GetValue(issuingPem)!, parse.GetValue(crl), report, out var anchors))
                return Emit(report, parse.GetValue(json), stdout);
            return Emit(await verifier.VerifyQrPhotoAsync(uri, logKey, image, anchors, ct), parse.GetValue(json), stdout);
        });

        var imageTps = new Option<string>("--tps") { Description = "13-digit TPS code", Required = true };
        var imageContest = new Option<string>("--contest") { Description = "ppwp, dpr, dpd, dprd-prov or dprd-kab", Required = true };
        var pageFiles = new Option<string[]>("--page") { Description = "A page image you hold (downloaded or photographed from the public site); repeat in page order. Without it the pages are fetched from the log's API" };
        var saveImages = new Option<string?>("--save") { Description = "When verified, write the fetched pages to this directory as {contest}-p{n}.jpg" };
        var image = new Command("image", "Check a TPS's form photos: the counted form proven in the log, its signer against your root, and that the pages (fetched, or your files) hash to the image hash the device signed.")
            { log, key, rootPem, issuingPem, crl, imageTps, imageContest, pageFiles, saveImages, json };
        image.SetAction(async (parse, ct) =>
        {
            var report = new VerificationReport("image");
            bool asJson = parse.GetValue(json);
            if (!TryLogAndKey(parse.GetValue(log)!, parse.GetValue(key)!, report, out var uri, out var logKey)
                || !TryReadAnchors(parse.GetValue(rootPem)!, parse.GetValue(issuingPem)!, parse.GetValue(crl), report, out var anchors))
                return Emit(report, asJson, stdout);
            string tpsText = parse.GetValue(imageTps)!, contestText = parse.GetValue(imageContest)!;
            if (!TpsCode.TryParse(tpsText, out var code))
                return Emit(report.CannotCheck("usage", $"'{tpsText}' is not a TPS code (13 digits)."), asJson, stdout);
            if (!TryParseContest(contestText, out var c))
                return Emit(report.CannotCheck("usage", $"'{contestText}' is not a contest (ppwp, dpr, dpd, dprd-prov, dprd-kab)."), asJson, stdout);
            string[] files = parse.GetValue(pageFiles) ?? [];
            string? saveTo = parse.GetValue(saveImages);
            if (files.Length > 0 && saveTo is not null)
                return Emit(report.CannotCheck("usage", "--save writes the pages fetched from the log's API; with --page nothing is fetched."), asJson, stdout);
            List<byte[]>? local = null;
            foreach (string file in files)
            {
                if (!TryRead(file, report, out var page)) return Emit(report, asJson, stdout);
                (local ??= []).Add(page);
            }
            (report, var verified) = await verifier.VerifyAndFetchImagesAsync(uri, logKey, anchors, code, c, local, ct);
            if (report.Ok && saveTo is not null && verified is not null)
            {
                try
                {
                    Directory.CreateDirectory(saveTo);
                    for (int i = 0; i < verified.Count; i++) File.WriteAllBytes(Path.Combine(saveTo, $"{c.Slug()}-p{i + 1}.jpg"), verified[i]);
                }
                catch (Exception e) when (e is IOException or UnauthorizedAccessException)
                {
                    report.CannotCheck("io_error", $"Verified, but cannot write to {saveTo}: {e.Message}");
                }
            }
            return Emit(report, asJson, stdout);
        });

        var audit = new Command("audit", "Download every entry, recompute the root and compare it with the signed checkpoint; decode every entry.")
            { log, key, json };
        audit.SetAction(async (parse, ct) =>
        {
            var report = new VerificationReport("audit");
            if (!TryLogAndKey(parse.GetValue(log)!, parse.GetValue(key)!, report, out var uri, out var logKey)) return Emit(report, parse.GetValue(json), stdout);
            bool showProgress = !parse.GetValue(json) && ReferenceEquals(stderr, Console.Error) && !Console.IsErrorRedirected;
            var progress = showProgress ? new Progress<(long Done, long Total)>(p => stderr.Write($"\r  {p.Done:N0} / {p.Total:N0} entries")) : null;
            report = await verifier.AuditAsync(uri, logKey, progress, ct);
            if (showProgress) stderr.WriteLine();
            return Emit(report, parse.GetValue(json), stdout);
        });

        var dhasilHash = new Option<string>("--hash") { Description = "The D.Hasil statement's hash (64 hex digits), as the public API lists it", Required = true };
        var dhasil = new Command("dhasil", "Check a kecamatan's D.Hasil: proven in the log, signed by its PPK station (against your root), every form it sums proven and signed, and their sum.")
            { log, key, rootPem, issuingPem, crl, dhasilHash, json };
        dhasil.SetAction(async (parse, ct) =>
        {
            var report = new VerificationReport("dhasil");
            bool asJson = parse.GetValue(json);
            if (!TryLogAndKey(parse.GetValue(log)!, parse.GetValue(key)!, report, out var uri, out var logKey)
                || !TryReadAnchors(parse.GetValue(rootPem)!, parse.GetValue(issuingPem)!, parse.GetValue(crl), report, out var anchors))
                return Emit(report, asJson, stdout);
            string text = parse.GetValue(dhasilHash)!;
            if (!Sha256Hash.TryParseHex(text, out var h) || h.IsEmpty)
                return Emit(report.CannotCheck("usage", $"'{text}' is not a SHA-256 hash (64 hex digits)."), asJson, stdout);
            return Emit(await verifier.VerifyDhasilAsync(uri, logKey, anchors, h, ct), asJson, stdout);
        });

        var exportFile = new Argument<string>("FILE") { Description = "A CSV export (GET /api/v1/export/csv/{contest}/{region}) as downloaded" };
        var export = new Command("export", "Check a CSV export against the log: its checkpoint is the log's (entries hash to its root, a prefix of the signed tree), and every row is the log's count.")
            { exportFile, log, key, json };
        export.SetAction(async (parse, ct) =>
        {
            var report = new VerificationReport("export");
            bool asJson = parse.GetValue(json);
            if (!TryLogAndKey(parse.GetValue(log)!, parse.GetValue(key)!, report, out var uri, out var logKey)
                || !TryReadText(parse.GetValue(exportFile)!, report, out string? csv))
                return Emit(report, asJson, stdout);
            bool showProgress = !asJson && ReferenceEquals(stderr, Console.Error) && !Console.IsErrorRedirected;
            var progress = showProgress ? new Progress<(long Done, long Total)>(p => stderr.Write($"\r  {p.Done:N0} / {p.Total:N0} entries")) : null;
            report = await verifier.VerifyExportAsync(uri, logKey, csv, progress, ct);
            if (showProgress) stderr.WriteLine();
            return Emit(report, asJson, stdout);
        });

        var root = new RootCommand("kpu-verify: check KPU election results yourself — signed submissions, device certificates, PPK statements, the transparency log.")
            { submission, inclusion, consistency, qr, image, dhasil, export, audit };
        var parsed = root.Parse(args);
        if (parsed.Errors.Count > 0)
        {
            foreach (var error in parsed.Errors) await stderr.WriteLineAsync(error.Message);
            await stderr.WriteLineAsync("Try 'kpu-verify --help'.");
            return VerificationReport.ExitCannotCheck;
        }
        return await parsed.InvokeAsync(new InvocationConfiguration { Output = stdout, Error = stderr }, cancellationToken);
    }

    private static int Emit(VerificationReport report, bool json, TextWriter stdout)
    {
        if (json) stdout.WriteLine(report.ToJson());
        else report.WriteHuman(stdout);
        return report.ExitCode;
    }

    /// <summary>The contest slugs of the API; "dprd-kabko" is accepted for DPRD Kabupaten/Kota too.</summary>
    internal static bool TryParseContest(string? text, out ContestId contest) =>
        Contests.TryParseSlug(text == "dprd-kabko" ? "dprd-kab" : text, out contest);

    private static bool TryLogAndKey(string logText, string keyText, VerificationReport report, out Uri uri, out NoteVerifierKey key)
    {
        key = null!;
        if (!Uri.TryCreate(logText, UriKind.Absolute, out uri!) || uri.Scheme is not ("http" or "https"))
        {
            report.CannotCheck("usage", $"'{logText}' is not an http(s) URL.");
            return false;
        }
        string text = keyText;
        if (!keyText.Contains('+') && File.Exists(keyText) && !TryReadText(keyText, report, out text!)) return false;
        if (!NoteVerifierKey.TryParse(text, out var parsed, out string? error))
        {
            report.CannotCheck("usage", $"--key is not a verifier key ({error}).");
            return false;
        }
        key = parsed;
        return true;
    }

    private static bool TryReadAnchors(string rootPath, string issuingPath, string? crlPath, VerificationReport report, out TrustAnchors anchors)
    {
        anchors = null!;
        byte[]? crlDer = null;
        if (!TryReadText(rootPath, report, out string? root) || !TryReadText(issuingPath, report, out string? issuing)) return false;
        if (crlPath is not null && !TryRead(crlPath, report, out crlDer)) return false;
        anchors = new TrustAnchors(root, issuing, crlDer);
        return true;
    }

    private static bool TryReadText(string path, VerificationReport report, out string text)
    {
        text = "";
        if (!TryRead(path, report, out var bytes)) return false;
        try
        {
            text = new System.Text.UTF8Encoding(false, throwOnInvalidBytes: true).GetString(bytes);
            return true;
        }
        catch (System.Text.DecoderFallbackException)
        {
            report.CannotCheck("io_error", $"{path} is not UTF-8 text.");
            return false;
        }
    }

    private static bool TryRead(string path, VerificationReport report, out byte[] bytes)
    {
        bytes = [];
        try
        {
            if (new FileInfo(path).Length > QrPhotoReader.MaxPhotoBytes)
            {
                report.CannotCheck("io_error", $"{path} is larger than {QrPhotoReader.MaxPhotoBytes} bytes.");
                return false;
            }
            bytes = File.ReadAllBytes(path);
            return true;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or ArgumentException or NotSupportedException)
        {
            report.CannotCheck("io_error", $"Cannot read {path}: {e.Message}");
            return false;
        }
    }
}
