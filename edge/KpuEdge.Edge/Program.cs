using System.CommandLine;
using KpuEdge.Core.Elections;
using KpuEdge.Core.Protocol;
using KpuEdge.Core.Regions;
using KpuEdge.Core.Tally;
using KpuEdge.Crypto;
using KpuEdge.Crypto.Pki;
using KpuEdge.Crypto.Provisioning;
using KpuEdge.Edge.Commands;
using KpuEdge.Edge.Device;
using KpuEdge.Edge.Transport;
using KpuEdge.Vision.Forms;

// kpu-edge: the TPS device agent. Operator-facing messages are in Bahasa Indonesia.
var deviceIdOption = new Option<string>("--device-id") { Description = "Device id (default: dev-<TPS code>)" };
var tpsOption = new Option<string>("--tps") { Description = "13-digit TPS code", Required = true };
var deviceDirOption = new Option<string>("--device-dir") { Description = "This device's folder: keys, certificates and configuration bundle (kpu-provision)", DefaultValueFactory = _ => "device" };
var contestOption = new Option<string>("--contest") { Description = "ppwp, dpr, dpd, dprd-prov or dprd-kab", DefaultValueFactory = _ => "ppwp" };
var seedOption = new Option<int>("--seed") { Description = "Seed for the synthetic numbers", DefaultValueFactory = _ => 1 };
var tallyOption = new Option<string>("--tally") { Description = "Tally JSON file, or - for stdin", Required = true };
var brokerOption = new Option<string?>("--broker") { Description = "MQTT broker host:port (default: the first broker of the configuration bundle)" };
var electionOption = new Option<string?>("--election") { Description = "Election definition JSON (default: built-in Pemilu 2024)" };
var timeoutOption = new Option<int>("--timeout") { Description = "Seconds to wait for the receipt per attempt", DefaultValueFactory = _ => 10 };

var sample = new Command("sample-tally", "Print a realistic, consistent tally of a TPS as JSON (for trying the agent).")
    { tpsOption, contestOption, seedOption };
sample.SetAction(parse =>
{
    var tps = TpsCode.Parse(parse.GetValue(tpsOption)!);
    if (!Contests.TryParseSlug(parse.GetValue(contestOption), out var contest)) return Fail($"Kontestasi tidak dikenal: {parse.GetValue(contestOption)}");
    var election = ElectionDefinition.Default;
    var tally = SyntheticTally.ForTps(tps, election.Ballots(RegionTree.LoadEmbedded()), election, parse.GetValue(seedOption))
        .FirstOrDefault(t => t.Contest == contest);
    if (tally is null) return Fail($"{contest.Slug()} tidak diselenggarakan di TPS {tps}.");
    Console.WriteLine(tally.ToJson());
    return 0;
});

var validate = new Command("validate", "Check a tally against every rule of the C.Hasil form.") { tallyOption, electionOption };
validate.SetAction(parse =>
{
    var tally = ReadTally(parse.GetValue(tallyOption)!);
    var election = LoadElection(parse.GetValue(electionOption));
    var violations = C1Validator.Validate(tally, election.Ballots(RegionTree.LoadEmbedded()).For(tally.Contest, tally.Tps));
    if (violations.Count == 0)
    {
        Console.WriteLine("Formulir konsisten: semua aturan terpenuhi.");
        return 0;
    }
    Console.WriteLine("Formulir TIDAK konsisten; periksa kembali kolom berikut:");
    foreach (var v in violations) Console.WriteLine($"  - {v.Field}: {v.Message} [{v.Rule}]");
    return 2;
});

var submitImageOption = new Option<string[]>("--image") { Description = "The form's page photos: their hash is bound into the signed submission", AllowMultipleArgumentsPerToken = true, DefaultValueFactory = _ => [] };
var submit = new Command("submit", "Validate, sign and send a tally to the cloud over mutual TLS, then wait for its receipt and check it against the transparency log.")
    { deviceDirOption, tallyOption, brokerOption, electionOption, timeoutOption, submitImageOption };
submit.SetAction(async (parse, cancellationToken) =>
{
    string deviceDir = parse.GetValue(deviceDirOption)!;
    ProvisionedDevice device;
    try
    {
        device = ProvisionedDevice.Load(deviceDir, TimeProvider.System);
    }
    catch (Exception e) when (e is ConfigBundleException or IOException or CertificateFormatException or InvalidDataException or FormatException)
    {
        return Fail($"Perangkat belum siap di {deviceDir}: {e.Message}");
    }
    var identity = device.Identity;
    var tally = ReadTally(parse.GetValue(tallyOption)!);
    var election = LoadElection(parse.GetValue(electionOption));
    string statePath = Path.Combine(deviceDir, ProvisionedDevice.ChainFile);
    var signer = new FormSigner(identity, election, election.Ballots(RegionTree.LoadEmbedded()), TimeProvider.System)
    {
        Chain = ChainState.Load(statePath),
    };
    SignedSubmission signed;
    try
    {
        var photos = parse.GetValue(submitImageOption)!;
        var imageHash = photos.Length == 0 ? default
            : Sha256Hash.FromBytes(KpuEdge.Vision.Reading.FormDecider.ImageHash(photos.Select(File.ReadAllBytes).ToArray()));
        signed = signer.Sign(tally, imageHash);
    }
    catch (TallyRejectedException e)
    {
        Console.Error.WriteLine("Formulir TIDAK ditandatangani karena tidak konsisten:");
        foreach (var v in e.Violations) Console.Error.WriteLine($"  - {v.Field}: {v.Message} [{v.Rule}]");
        return 2;
    }
    // The chain advances before sending, so a crash can never reuse a sequence number. The signed bytes are kept: the
    // witness QR is made from them (kpu-edge witness-qr), and they are what the device resends.
    signer.Chain.Save(statePath);
    string signedDir = Path.Combine(deviceDir, "signed");
    Directory.CreateDirectory(signedDir);
    string signedPath = Path.Combine(signedDir, $"{signed.Submission.Sequence:D6}-{tally.Contest.Slug()}.cbor");
    File.WriteAllBytes(signedPath, signed.Wire);
    Console.WriteLine($"Ditandatangani: {tally.Contest.Slug()} TPS {tally.Tps}, nomor urut {signed.Submission.Sequence}, {signed.Wire.Length} byte, hash {signed.Hash}.");
    Console.WriteLine($"Tersimpan di {signedPath} (untuk QR saksi: kpu-edge witness-qr --submission {signedPath} --out qr.png).");

    var (host, port) = parse.GetValue(brokerOption) is { } brokerText ? ParseBroker(brokerText) : device.Broker;
    Receipt receipt;
    try
    {
        await using var client = new SubmissionClient(identity.DeviceId, device.Connection(host, port));
        await client.ConnectAsync(cancellationToken);
        receipt = await client.SubmitAsync(signed, TimeSpan.FromSeconds(parse.GetValue(timeoutOption)), attempts: 3, cancellationToken);
    }
    catch (ReceiptNotVerifiedException e)
    {
        Console.Error.WriteLine($"BELUM TERKIRIM: tanda terima tidak sah ({e.Message}). Formulir akan dikirim ulang.");
        return 4;
    }
    catch (Exception e) when (e is MQTTnet.Exceptions.MqttCommunicationException or TimeoutException or System.Net.Sockets.SocketException
                              or UnauthorizedAccessException or System.Security.Authentication.AuthenticationException)
    {
        Console.Error.WriteLine($"BELUM TERKIRIM: tidak ada tanda terima dari {host}:{port} ({e.Message}). Periksa jaringan lalu kirim ulang.");
        return 4;
    }
    Console.WriteLine(receipt.Status switch
    {
        ReceiptStatus.Accepted => $"DITERIMA: tercatat di buku besar posisi {receipt.LedgerPosition}, log transparansi entri {receipt.LogIndex} (bukti diperiksa).",
        ReceiptStatus.Duplicate => $"SUDAH DITERIMA sebelumnya: posisi {receipt.LedgerPosition} (tidak dihitung dua kali).",
        _ => $"DITOLAK ({receipt.Reason}): {receipt.Detail}",
    });
    return receipt.Status == ReceiptStatus.Rejected ? 3 : 0;
});

var electionCommand = new Command("election", "Print the election definition (the built-in Pemilu 2024 default, or --election FILE) as JSON.") { electionOption };
electionCommand.SetAction(parse =>
{
    Console.WriteLine(LoadElection(parse.GetValue(electionOption)).ToJson());
    return 0;
});

var outOption = new Option<string>("--out") { Description = "Output directory", DefaultValueFactory = _ => "forms" };
var contestsOption = new Option<string[]>("--contest") { Description = "Contest(s) to render; default: all held at the TPS", AllowMultipleArgumentsPerToken = true, DefaultValueFactory = _ => [] };
var render = new Command("render", "Write a TPS's blank C.Hasil form set (PNG pages, 200 dpi) and its layout (JSON).") { tpsOption, contestsOption, outOption, electionOption };
render.SetAction(parse =>
{
    var tps = TpsCode.Parse(parse.GetValue(tpsOption)!);
    var election = LoadElection(parse.GetValue(electionOption));
    var tree = RegionTree.LoadEmbedded();
    if (!tree.Contains(tps)) return Fail($"TPS {tps} tidak ada dalam daftar TPS 2024.");
    string outDir = parse.GetValue(outOption)!;
    Directory.CreateDirectory(outDir);
    var wanted = parse.GetValue(contestsOption)!;
    foreach (var contest in election.ContestsAt(tps))
    {
        if (wanted.Length > 0 && !wanted.Contains(contest.Slug())) continue;
        var layout = FormLayout.For(election, election.Ballots(tree).For(contest, tps)!);
        File.WriteAllText(Path.Combine(outDir, $"{tps}-{contest.Slug()}.layout.json"), layout.ToJson());
        foreach (var page in layout.Pages)
        {
            using var image = FormRenderer.RenderPage(layout, page.Number, tps, tree);
            string file = Path.Combine(outDir, $"{tps}-{contest.Slug()}-p{page.Number}.png");
            OpenCvSharp.Cv2.ImWrite(file, image);
            Console.WriteLine(file);
        }
    }
    return 0;
});
var form = new Command("form", "C.Hasil forms: render blank pages.") { render };

var imageOption = new Option<string[]>("--image") { Description = "Photo(s) of the form's pages, or a folder of them", AllowMultipleArgumentsPerToken = true, DefaultValueFactory = _ => [] };
var cameraOption = new Option<int?>("--camera") { Description = "Capture from /dev/videoN instead of files" };
var pagesOption = new Option<int>("--pages") { Description = "With --camera: how many pages to capture", DefaultValueFactory = _ => 1 };
var scanTpsOption = new Option<string?>("--tps") { Description = "This device's TPS: pages of another TPS are refused" };
var scanContestOption = new Option<string?>("--contest") { Description = "The contest being scanned: pages of another contest are refused" };
var jsonOption = new Option<bool>("--json") { Description = "Print the result as JSON" };
var tallyOutOption = new Option<string?>("--tally-out") { Description = "Write the numbers as tally JSON when they were accepted without a human" };
var scan = new Command("scan", "Read a C.Hasil form from photos: values, per-field confidence, flags for the operator, broken rules.")
    { imageOption, cameraOption, pagesOption, scanTpsOption, scanContestOption, jsonOption, tallyOutOption, electionOption };
scan.SetAction(parse => ScanCommand.Run(new ScanCommand.Settings(parse.GetValue(imageOption)!, parse.GetValue(cameraOption), parse.GetValue(pagesOption),
    parse.GetValue(scanTpsOption), parse.GetValue(scanContestOption), parse.GetValue(jsonOption), parse.GetValue(tallyOutOption), parse.GetValue(electionOption))));

var formsOption = new Option<int>("--forms") { Description = "Synthetic photographed forms to read", DefaultValueFactory = _ => 200 };
var benchSeedOption = new Option<int>("--seed") { Description = "Seed", DefaultValueFactory = _ => 1 };
var digitsOption = new Option<string?>("--digits") { Description = "Another digit set: a folder with subfolders 0-9 of grayscale PNGs (dark ink on light paper)" };
var benchContestOption = new Option<string>("--contest") { Description = "Contest of the forms", DefaultValueFactory = _ => "ppwp" };
var bubbleShareOption = new Option<double>("--bubbles") { Description = "Share of forms whose bubbles are filled", DefaultValueFactory = _ => 0.5 };
var benchOutOption = new Option<string?>("--output") { Description = "Record the figures in this Markdown file (e.g. docs/benchmarks.md)" };
var benchRead = new Command("bench-read", "Measure form reading on synthetic photographed forms filled with held-out handwritten digits.")
    { formsOption, benchSeedOption, digitsOption, benchContestOption, bubbleShareOption, jsonOption, benchOutOption };
benchRead.SetAction(parse => BenchReadCommand.Run(new BenchReadCommand.Settings(parse.GetValue(formsOption), parse.GetValue(benchSeedOption),
    parse.GetValue(digitsOption), parse.GetValue(benchContestOption)!, parse.GetValue(bubbleShareOption), parse.GetValue(jsonOption), parse.GetValue(benchOutOption))));

var root = new RootCommand("KpuEdge TPS device agent: reads, checks, signs and sends C.Hasil results.") { sample, validate, submit, electionCommand, form, scan, benchRead };
root.Subcommands.Add(WitnessQrCommand.Create());
try
{
    return await root.Parse(args).InvokeAsync(new InvocationConfiguration { EnableDefaultExceptionHandler = false });
}
catch (Exception e) when (e is InvalidDataException or FileNotFoundException or DirectoryNotFoundException)
{
    // Bad input files get one plain line for the operator, not a stack trace.
    return Fail(e.Message);
}

static C1Tally ReadTally(string path)
{
    try
    {
        return C1Tally.FromJson(path == "-" ? Console.In.ReadToEnd() : File.ReadAllText(path));
    }
    catch (System.Text.Json.JsonException e)
    {
        // Not a tally at all: say so plainly rather than with a stack trace.
        throw new InvalidDataException($"Berkas {path} bukan data formulir C.Hasil yang sah: {e.Message}", e);
    }
}

static ElectionDefinition LoadElection(string? path) => path is null ? ElectionDefinition.Default : ElectionDefinition.Load(path);

static (string Host, int Port) ParseBroker(string text)
{
    int colon = text.LastIndexOf(':');
    return colon < 0 ? (text, 8883) : (text[..colon], int.Parse(text[(colon + 1)..]));
}

static int Fail(string message)
{
    Console.Error.WriteLine(message);
    return 1;
}
