using System.CommandLine;
using KpuEdge.Core.Elections;
using KpuEdge.Core.Protocol;
using KpuEdge.Core.Regions;
using KpuEdge.Core.Tally;
using KpuEdge.Crypto;
using KpuEdge.Crypto.Pki;
using KpuEdge.Crypto.Provisioning;
using KpuEdge.Edge.Commands;
using KpuEdge.Edge.Delivery;
using KpuEdge.Edge.Device;
using KpuEdge.Edge.Health;
using KpuEdge.Edge.Relay;
using KpuEdge.Edge.Transport;
using KpuEdge.Vision.Forms;
using KpuEdge.Vision.Reading;

// kpu-edge: the TPS device agent. Operator-facing messages are in Bahasa Indonesia.
var deviceIdOption = new Option<string>("--device-id") { Description = "Device id (default: dev-<TPS code>)" };
var tpsOption = new Option<string>("--tps") { Description = "13-digit TPS code", Required = true };
var deviceDirOption = new Option<string>("--device-dir") { Description = "This device's folder: keys, certificates and configuration bundle (kpu-provision)", DefaultValueFactory = _ => "device" };
var contestOption = new Option<string>("--contest") { Description = "ppwp, dpr, dpd, dprd-prov or dprd-kab", DefaultValueFactory = _ => "ppwp" };
var seedOption = new Option<int>("--seed") { Description = "Seed for the synthetic numbers", DefaultValueFactory = _ => 1 };
var tallyOption = new Option<string>("--tally") { Description = "Tally JSON file, or - for stdin", Required = true };
var brokerOption = new Option<string?>("--broker") { Description = "MQTT broker host:port (default: the first broker of the configuration bundle)" };
var electionOption = new Option<string?>("--election") { Description = "Election definition JSON (default: built-in Pemilu 2024)" };
var timeoutOption = new Option<int>("--timeout") { Description = "Seconds to keep trying before leaving the rest in the outbox", DefaultValueFactory = _ => 60 };

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
var correctionOption = new Option<string?>("--correction") { Description = "Alasan koreksi: this form replaces one sent earlier for the same contest (required then; kept visible)" };
var submit = new Command("submit", "Validate, sign and send a tally to the cloud over mutual TLS, then wait for its receipt and check it against the transparency log.")
    { deviceDirOption, tallyOption, brokerOption, electionOption, timeoutOption, submitImageOption, correctionOption };
submit.SetAction(async (parse, cancellationToken) =>
{
    string deviceDir = parse.GetValue(deviceDirOption)!;
    if (LoadDevice(deviceDir) is not { } device) return 1;
    var identity = device.Identity;
    var tally = ReadTally(parse.GetValue(tallyOption)!);
    var election = LoadElection(parse.GetValue(electionOption));
    var signer = new FormSigner(identity, election, election.Ballots(RegionTree.LoadEmbedded()), TimeProvider.System);
    using var outbox = new Outbox(Path.Combine(deviceDir, Outbox.FileName));
    SignedSubmission signed;
    try
    {
        // Each page photo is recompressed for the thin link (grey, ≤150 KB); those link images are what is signed and sent.
        var pages = new List<byte[]>();
        foreach (var photo in parse.GetValue(submitImageOption)!)
        {
            var link = LinkImage.Compress(File.ReadAllBytes(photo));
            Console.WriteLine($"Foto {Path.GetFileName(photo)}: {link.OriginalBytes / 1024} KB → {link.Jpeg.Length / 1024} KB ({link.Width}×{link.Height}, kualitas {link.Quality}).");
            pages.Add(link.Jpeg);
        }
        // Signed into the outbox with the advanced chain and the page images in one transaction, before anything is sent.
        signed = outbox.SignAndAdd(signer, tally, pages, parse.GetValue(correctionOption));
    }
    catch (TallyRejectedException e)
    {
        Console.Error.WriteLine("Formulir TIDAK ditandatangani karena tidak konsisten:");
        foreach (var v in e.Violations) Console.Error.WriteLine($"  - {v.Field}: {v.Message} [{v.Rule}]");
        return 2;
    }
    // The signed bytes are also kept as a file: the witness QR is made from them (kpu-edge witness-qr).
    string signedDir = Path.Combine(deviceDir, "signed");
    Directory.CreateDirectory(signedDir);
    string signedPath = Path.Combine(signedDir, $"{signed.Submission.Sequence:D6}-{tally.Contest.Slug()}.cbor");
    File.WriteAllBytes(signedPath, signed.Wire);
    Console.WriteLine($"Ditandatangani: {tally.Contest.Slug()} TPS {tally.Tps}, nomor urut {signed.Submission.Sequence}, {signed.Wire.Length} byte, hash {signed.Hash}.");
    Console.WriteLine($"Tersimpan di kotak keluar dan di {signedPath} (untuk QR saksi: kpu-edge witness-qr --submission {signedPath} --out qr.png).");

    var (host, port) = parse.GetValue(brokerOption) is { } brokerText ? ParseBroker(brokerText) : device.Broker;
    await DeliverAsync(outbox, identity.DeviceId, device.Connection(host, port), TimeSpan.FromSeconds(parse.GetValue(timeoutOption)), cancellationToken);
    var entry = outbox.Find(signed.Hash)!;
    Console.WriteLine(entry.State switch
    {
        OutboxState.Receipted => $"DITERIMA: tercatat di log transparansi entri {entry.LogIndex} (tanda terima dan buktinya diperiksa).",
        OutboxState.Rejected => $"DITOLAK: {entry.Reason}",
        _ => $"BELUM TERKIRIM: belum ada tanda terima dari {host}:{port}. Formulir aman di kotak keluar; perangkat mengirim ulang dengan: kpu-edge deliver --device-dir {deviceDir}",
    });
    return entry.State switch { OutboxState.Receipted => 0, OutboxState.Rejected => 3, _ => 4 };
});

var deliver = new Command("deliver", "Send everything in this device's outbox that has no verified receipt yet, reconnecting as needed.")
    { deviceDirOption, brokerOption, timeoutOption };
deliver.SetAction(async (parse, cancellationToken) =>
{
    string deviceDir = parse.GetValue(deviceDirOption)!;
    if (LoadDevice(deviceDir) is not { } device) return 1;
    using var outbox = new Outbox(Path.Combine(deviceDir, Outbox.FileName));
    var (host, port) = parse.GetValue(brokerOption) is { } brokerText ? ParseBroker(brokerText) : device.Broker;
    await DeliverAsync(outbox, device.Identity.DeviceId, device.Connection(host, port), TimeSpan.FromSeconds(parse.GetValue(timeoutOption)), cancellationToken);
    var status = outbox.Status();
    PrintStatus(status);
    return status.AllSettled ? 0 : 4;
});

// The device's service: deliver whatever the outbox holds and report health, until stopped (a systemd unit on the device).
var hardwareOption = new Option<string>("--hardware") { Description = "pi: INA219 battery monitor on I2C and the case-open switch on GPIO; none: neither (a PC)", DefaultValueFactory = _ => DeviceHardware.None };
var i2cBusOption = new Option<int>("--i2c-bus") { Description = "I2C bus of the INA219", DefaultValueFactory = _ => Ina219PowerMonitor.DefaultBus };
var i2cAddressOption = new Option<int>("--i2c-address") { Description = "I2C address of the INA219 (64 = 0x40)", DefaultValueFactory = _ => Ina219PowerMonitor.DefaultAddress };
var tamperPinOption = new Option<int>("--tamper-pin") { Description = "GPIO (BCM) pin of the case-open switch", DefaultValueFactory = _ => GpioTamperSwitch.DefaultPin };
var kppsScreenOption = new Option<string?>("--screen") { Description = "Serve the KPPS's screen (scan, confirm, sign with the chair's PIN, witness QR, delivery) on this device, e.g. http://127.0.0.1:8060 (localhost only)" };
var run = new Command("run", "Device service: keep delivering the outbox and send a signed health report every telemetry interval of the configuration bundle (at once on a tamper or security event); with --screen, the KPPS's screen. Runs until Ctrl+C.")
    { deviceDirOption, brokerOption, hardwareOption, i2cBusOption, i2cAddressOption, tamperPinOption, kppsScreenOption, electionOption };
run.SetAction(async (parse, cancellationToken) =>
{
    string deviceDir = parse.GetValue(deviceDirOption)!;
    if (LoadDevice(deviceDir) is not { } device) return 1;
    using var hardware = OpenHardware(parse);
    if (hardware is null) return 1;
    using var outbox = new Outbox(Path.Combine(deviceDir, Outbox.FileName));
    var (host, port) = parse.GetValue(brokerOption) is { } brokerText ? ParseBroker(brokerText) : device.Broker;
    await using var loop = new DeliveryLoop(outbox, device.Identity.DeviceId, device.Connection(host, port));
    using var health = Reporter(device.Credentials, device.Config, outbox, hardware, loop, deviceDir);
    Console.WriteLine($"Perangkat {device.Identity.DeviceId} (TPS {device.Identity.Tps}) mengirim ke {host}:{port}; laporan kesehatan tiap " +
                      $"{device.Config.Telemetry.Interval.TotalSeconds:F0} detik. Hentikan dengan Ctrl+C.");
    var reporting = health.RunAsync(device.Config.Telemetry.Interval, cancellationToken);
    await using var screen = parse.GetValue(kppsScreenOption) is { } screenUrl ? KppsScreenFor(device, deviceDir, outbox, loop, parse.GetValue(electionOption), screenUrl) : null;
    if (screen is not null)
    {
        await screen.StartAsync(cancellationToken);
        Console.WriteLine($"Layar KPPS: {screen.Address}");
    }
    await loop.RunAsync(cancellationToken);
    await reporting;
    PrintStatus(outbox.Status());
    return 0;
});

// A PPK station relays for the TPS devices of its kecamatan: store and forward, receipts back (edge/README.md#ppk-relay).
var listenOption = new Option<int>("--listen") { Description = "TLS port the station's broker listens on for the kecamatan's TPS devices", Required = true };
var serverCertOption = new Option<string>("--server-cert") { Description = "The station broker's TLS server certificate, PEM (KPU role service: kpu-provision ca issue-service --purpose tls-server)", Required = true };
var serverKeyOption = new Option<string>("--server-key") { Description = "That certificate's private key, PEM", Required = true };
var screenOption = new Option<string?>("--screen") { Description = "Serve the PPK's screen (verify, keberatan, koreksi, D.Hasil) at this URL on the kecamatan LAN, e.g. http://0.0.0.0:8070" };
var relay = new Command("relay", "PPK station: take signed forms and page images from the kecamatan's TPS devices, keep them, forward them unchanged to the cloud and return the cloud's receipts; with --screen, the PPK's screen. Runs until Ctrl+C.")
    { deviceDirOption, listenOption, brokerOption, serverCertOption, serverKeyOption, hardwareOption, i2cBusOption, i2cAddressOption, tamperPinOption, screenOption, electionOption };
relay.SetAction(async (parse, cancellationToken) =>
{
    string deviceDir = parse.GetValue(deviceDirOption)!;
    ProvisionedStation station;
    try { station = ProvisionedStation.Load(deviceDir, TimeProvider.System); }
    catch (Exception e) when (e is ConfigBundleException or IOException or CertificateFormatException or InvalidDataException or FormatException)
    {
        return Fail($"Stasiun PPK belum siap di {deviceDir}: {e.Message}");
    }
    System.Security.Cryptography.X509Certificates.X509Certificate2 serverCertificate;
    try
    {
        serverCertificate = PpkRelay.LoadServerCertificate(parse.GetValue(serverCertOption)!, parse.GetValue(serverKeyOption)!,
            station.Credentials.CreateTrustStore(), DateTimeOffset.UtcNow);
    }
    catch (Exception e) when (e is IOException or CertificateFormatException or InvalidDataException)
    {
        return Fail($"Sertifikat server stasiun tidak dapat dipakai: {e.Message} Terbitkan dengan kpu-provision ca issue-service --purpose tls-server.");
    }
    var (host, port) = parse.GetValue(brokerOption) is { } brokerText ? ParseBroker(brokerText) : station.Broker;
    await using var ppk = new PpkRelay(deviceDir, station.Credentials, serverCertificate, station.Connection(host, port),
        new PpkRelayOptions { Port = parse.GetValue(listenOption) });
    var printing = new Lock();
    OutboxStatus? shown = null;
    ppk.Relayed += e => { lock (printing) Console.WriteLine(RelayMessages.Describe(e)); };
    ppk.StatusChanged += s =>
    {
        lock (printing)
        {
            if (s == shown) return;
            shown = s;
            Console.WriteLine(RelayMessages.Status(s));
        }
    };
    using var hardware = OpenHardware(parse);
    if (hardware is null) return 1;
    using var health = Reporter(station.Credentials, station.Config, ppk.Outbox, hardware, ppk.Uplink, deviceDir);
    var reporting = health.RunAsync(station.Config.Telemetry.Interval, cancellationToken);
    await ppk.StartAsync(cancellationToken);
    Console.WriteLine($"Stasiun PPK {station.Name} (kecamatan {station.Kecamatan.Value}) menerima perangkat TPS di port {ppk.Port} (TLS) " +
                      $"dan meneruskan ke {host}:{port}. Hentikan dengan Ctrl+C.");
    await using var screen = parse.GetValue(screenOption) is { } screenUrl
        ? new KpuEdge.Edge.Station.StationScreen(ppk.Desk(LoadElection(parse.GetValue(electionOption)), RegionTree.LoadEmbedded()), deviceDir, screenUrl)
        : null;
    if (screen is not null)
    {
        await screen.StartAsync(cancellationToken);
        Console.WriteLine($"Layar PPK: {screen.Address} — akun pertama 'admin', kata sandinya di {Path.GetFullPath(screen.AdminPasswordFile)}.");
    }
    try { await Task.Delay(Timeout.Infinite, cancellationToken); }
    catch (OperationCanceledException) { }
    await reporting;
    Console.WriteLine(RelayMessages.Status(ppk.Outbox.Status()));
    return 0;
});

var status = new Command("status", "Show this device's outbox: forms waiting, sent, delivered (receipted) and refused.") { deviceDirOption };
status.SetAction(parse =>
{
    using var outbox = new Outbox(Path.Combine(parse.GetValue(deviceDirOption)!, Outbox.FileName));
    foreach (var e in outbox.All())
    {
        string state = e.State switch
        {
            OutboxState.Queued => "menunggu dikirim",
            OutboxState.Sent => $"terkirim {e.Attempts}×, menunggu tanda terima",
            OutboxState.Receipted => $"DITERIMA (log entri {e.LogIndex})",
            _ => $"DITOLAK: {e.Reason}",
        };
        Console.WriteLine($"  #{e.Sequence} {e.Contest.Slug(),-9} {state}");
    }
    foreach (var page in outbox.Pages())
    {
        string state = page.State switch
        {
            PageState.Stored => "tersimpan di pusat",
            PageState.Refused => $"DITOLAK: {page.Reason}",
            // Held whole by the PPK station (or the cloud), but the cloud's signed word has not come back yet.
            _ when page.Confirmed >= page.Size => "terkirim utuh, menunggu tanda terima pusat",
            _ => $"{page.Confirmed / 1024}/{page.Size / 1024} KB diterima",
        };
        Console.WriteLine($"  gambar {page.Contest.Slug(),-9} halaman {page.Page + 1}: {state}");
    }
    PrintStatus(outbox.Status());
    return 0;
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
var classifierOption = new Option<string>("--classifier") { Description = "Digit classifier: cnn (the device's: the vendored CNN with the SVM) or svm (the HOG + SVM alone, for comparison)", DefaultValueFactory = _ => "cnn" };
var benchRead = new Command("bench-read", "Measure form reading on synthetic photographed forms filled with held-out handwritten digits.")
    { formsOption, benchSeedOption, digitsOption, benchContestOption, bubbleShareOption, jsonOption, benchOutOption, classifierOption };
benchRead.SetAction(parse => BenchReadCommand.Run(new BenchReadCommand.Settings(parse.GetValue(formsOption), parse.GetValue(benchSeedOption),
    parse.GetValue(digitsOption), parse.GetValue(benchContestOption)!, parse.GetValue(bubbleShareOption), parse.GetValue(jsonOption), parse.GetValue(benchOutOption), parse.GetValue(classifierOption)!)));

var pinOption = new Option<string>("--pin") { Description = "The KPPS chair's PIN, 6–12 digits (read from stdin when -)", Required = true };
var setPin = new Command("set-pin", "Set the KPPS chair's PIN, without which the device's screen signs nothing.") { deviceDirOption, pinOption };
setPin.SetAction(parse =>
{
    string pin = parse.GetValue(pinOption)!;
    if (pin == "-") pin = Console.ReadLine()?.Trim() ?? "";
    if (KpuEdge.Edge.Screen.KppsPin.Problem(pin) is { } problem) return Fail(problem);
    new KpuEdge.Edge.Screen.KppsPin(Path.Combine(parse.GetValue(deviceDirOption)!, KpuEdge.Edge.Screen.KppsPin.FileName), TimeProvider.System).Set(pin);
    Console.WriteLine("PIN ketua KPPS disimpan (hanya hash-nya, dapat dibaca pemilik berkas saja).");
    return 0;
});

var root = new RootCommand("KpuEdge TPS device agent: reads, checks, signs and sends C.Hasil results.") { sample, validate, submit, deliver, run, relay, status, electionCommand, form, scan, benchRead, setPin };
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

// The hardware --hardware names; null (after saying why) when it cannot be opened: a device without its sensors must not pretend.
DeviceHardware? OpenHardware(ParseResult parse)
{
    try
    {
        return DeviceHardware.Open(parse.GetValue(hardwareOption)!, parse.GetValue(i2cBusOption), parse.GetValue(i2cAddressOption), parse.GetValue(tamperPinOption));
    }
    catch (Exception e) when (e is ArgumentException or IOException or UnauthorizedAccessException or PlatformNotSupportedException or InvalidOperationException)
    {
        Console.Error.WriteLine($"Perangkat keras tidak dapat dibuka ({parse.GetValue(hardwareOption)}): {e.Message} Pakai --hardware none di PC.");
        return null;
    }
}

static HealthReporter Reporter(DeviceCredentials credentials, DeviceConfig config, Outbox outbox, DeviceHardware hardware, DeliveryLoop loop, string dataDirectory)
{
    var reporter = new HealthReporter(credentials.DeviceId, credentials.SigningKey, outbox, new HealthSources
    {
        Power = hardware.Power,
        Tamper = hardware.Tamper,
        System = new SystemProbe(dataDirectory),
        Link = loop.Link,
        AppVersion = typeof(HealthReporter).Assembly.GetName().Version?.ToString() ?? "0",
        ConfigVersion = () => config.IssuedAt.UtcDateTime.ToString("yyyyMMdd'T'HHmmss'Z'", System.Globalization.CultureInfo.InvariantCulture),
    });
    reporter.Attach(loop);
    return reporter;
}

static ElectionDefinition LoadElection(string? path) => path is null ? ElectionDefinition.Default : ElectionDefinition.Load(path);

static (string Host, int Port) ParseBroker(string text)
{
    int colon = text.LastIndexOf(':');
    return colon < 0 ? (text, 8883) : (text[..colon], int.Parse(text[(colon + 1)..]));
}

// Runs the delivery loop until the outbox is settled or the time is up; what is left stays in the outbox.
static async Task DeliverAsync(Outbox outbox, string deviceId, BrokerConnection connection, TimeSpan timeout, CancellationToken cancellationToken)
{
    await using var loop = new DeliveryLoop(outbox, deviceId, connection);
    await loop.RunUntilSettledAsync(timeout, cancellationToken);
}

static void PrintStatus(OutboxStatus s)
{
    Console.WriteLine($"Kotak keluar: {s.Queued} menunggu, {s.Sent} menunggu tanda terima, {s.Receipted} diterima, {s.Rejected} ditolak.");
    if (s.Images.Pages > 0)
        Console.WriteLine($"Gambar formulir: {s.Images.Stored}/{s.Images.Pages} halaman tersimpan di pusat, {s.Images.Refused} ditolak, " +
                          $"{s.Images.BytesConfirmed / 1024}/{s.Images.BytesTotal / 1024} KB terkirim.");
}

// The device's folder and bundle, or null after saying why the device is not ready.
static ProvisionedDevice? LoadDevice(string deviceDir)
{
    try { return ProvisionedDevice.Load(deviceDir, TimeProvider.System); }
    catch (Exception e) when (e is ConfigBundleException or IOException or CertificateFormatException or InvalidDataException or FormatException)
    {
        Fail($"Perangkat belum siap di {deviceDir}: {e.Message}");
        return null;
    }
}

static KpuEdge.Edge.Screen.KppsScreen KppsScreenFor(ProvisionedDevice device, string deviceDir, Outbox outbox, DeliveryLoop loop, string? electionPath, string url)
{
    var tree = RegionTree.LoadEmbedded();
    var election = LoadElection(electionPath);
    var desk = new KpuEdge.Edge.Screen.KppsDesk(device.Identity, deviceDir, outbox,
        new FormSigner(device.Identity, election, election.Ballots(tree), TimeProvider.System), election.Ballots(tree),
        () => FormScanner.CreateDefault(tree, election), new KpuEdge.Edge.Screen.KppsPin(Path.Combine(deviceDir, KpuEdge.Edge.Screen.KppsPin.FileName), TimeProvider.System),
        loop.Wake, TimeProvider.System);
    return new KpuEdge.Edge.Screen.KppsScreen(desk, url);
}

static int Fail(string message)
{
    Console.Error.WriteLine(message);
    return 1;
}
