using KpuEdge.Cloud.Images;
using KpuEdge.Core.Elections;
using KpuEdge.Core.Protocol;
using KpuEdge.Core.Regions;
using KpuEdge.Crypto;
using KpuEdge.Crypto.Images;
using KpuEdge.Crypto.Pki;
using KpuEdge.Edge.Delivery;
using KpuEdge.Edge.Device;
using KpuEdge.Simulator;
using Microsoft.Extensions.Logging;
using KpuEdge.TestSupport;

namespace KpuEdge.Verify.Tests;

/// <summary>The real cloud (Orleans silo, TLS broker, SQLite ledger and log, HTTP API) in a temp directory, shared by the image tests.</summary>
public sealed class ImageCloudFixture : IAsyncLifetime
{
    public string DataDirectory { get; } = Path.Combine(Path.GetTempPath(), $"kpu-verify-images-{Guid.NewGuid():N}");
    public SimulationPki Pki { get; } = SimulationPki.Create(World.Election, seed: 41);
    public InProcessCloud Cloud { get; private set; } = null!;
    public HttpClient Http { get; } = new() { Timeout = TimeSpan.FromSeconds(30) };

    public async Task InitializeAsync() =>
        Cloud = await InProcessCloud.StartAsync(DataDirectory, World.Tree, World.Election, LogLevel.Error, pki: Pki);

    public async Task DisposeAsync()
    {
        Http.Dispose();
        await Cloud.DisposeAsync();
        try { Directory.Delete(DataDirectory, recursive: true); }
        catch (IOException) { /* a file still open on the way down: the temp directory is cleaned by the OS */ }
    }
}

/// <summary>
/// `kpu-verify image` against the real cloud: forms signed into a device's outbox with their page images and delivered
/// by its delivery loop, then checked from outside with only KPU's root and the log key — pages fetched from the API or
/// brought as files, altered, reordered, never arrived, tampered with on the cloud's disk.
/// </summary>
public sealed class ImageVerificationTests(ImageCloudFixture fixture) : IClassFixture<ImageCloudFixture>
{
    private static readonly DeliveryOptions Fast = new()
    {
        BackoffBase = TimeSpan.FromMilliseconds(50), BackoffMax = TimeSpan.FromMilliseconds(500), ResendAfter = TimeSpan.FromSeconds(5),
        KeepAlive = TimeSpan.FromSeconds(5), ConnectTimeout = TimeSpan.FromSeconds(10), ImageChunkBytes = 4096, Seed = 5,
    };

    /// <summary>Each test its own TPS of KOTA BANDUNG and its own device, so they share one cloud without meeting.</summary>
    private static TpsCode TpsAt(int index) => World.Tree.TpsIn(RegionCode.Parse("3273")).ElementAt(index);

    private static readonly string[] AllChecks =
    [
        "checkpoint_signature", "inclusion_proof", "entry", "decode", "device_certificate", "signature", "certificate", "revocation",
        "assignment", "image_named", "image_pages", "image_hash",
    ];

    private TrustAnchors Anchors => new(fixture.Pki.Pki.Root.Certificate.ToPem(), fixture.Pki.Pki.Issuing.Certificate.ToPem());

    /// <summary>Page images as a hash sees them: seeded random bytes of a page's size.</summary>
    private static byte[][] Pages(int count, int size, int seed)
    {
        var random = new Random(seed);
        return Enumerable.Range(0, count).Select(_ =>
        {
            var page = new byte[size + random.Next(size / 4)];
            random.NextBytes(page);
            return page;
        }).ToArray();
    }

    /// <summary>A provisioned, registered device of the TPS that signs with <paramref name="sign"/> into its outbox, then delivers until all settled.</summary>
    private async Task<SignedSubmission> DeliverAsync(TpsCode tps, Func<Outbox, FormSigner, SignedSubmission> sign)
    {
        var credentials = fixture.Pki.Pki.IssueDevice($"dev-{tps}-a", KpuRole.Tps, tps.Value);
        fixture.Cloud.Register(credentials);
        var signer = new FormSigner(DeviceIdentity.From(credentials), World.Election, World.Election.Ballots(World.Tree), TimeProvider.System);
        string directory = Path.Combine(fixture.DataDirectory, "devices", credentials.DeviceId);
        Directory.CreateDirectory(directory);
        using var outbox = new Outbox(Path.Combine(directory, Outbox.FileName));
        var signed = sign(outbox, signer);

        await using var loop = new DeliveryLoop(outbox, credentials.DeviceId, fixture.Cloud.ConnectionFor(credentials), Fast);
        Assert.True(await loop.RunUntilSettledAsync(TimeSpan.FromSeconds(45)), $"not settled: {outbox.Status()}");
        Assert.Equal(1, outbox.Status().Receipted);
        return signed;
    }

    private Task<SignedSubmission> DeliverWithPagesAsync(TpsCode tps, ContestId contest, byte[][] pages) =>
        DeliverAsync(tps, (outbox, signer) => outbox.SignAndAdd(signer, World.Tally(contest, tps), pages));

    private Task<VerificationReport> Verify(TpsCode tps, ContestId contest, IReadOnlyList<byte[]>? localPages = null) =>
        new Verifier(fixture.Http).VerifyImagesAsync(fixture.Cloud.ApiBase, fixture.Pki.LogKey, Anchors, tps, contest, localPages);

    private static string Describe(VerificationReport report) =>
        string.Join("\n", report.Checks.Select(c => $"{c.Name} {c.Status} {c.Error} {c.Detail}")) + (report.Error is null ? "" : $"\n{report.Error}: {report.ErrorDetail}");

    private static byte[][] Copy(byte[][] pages) => pages.Select(p => (byte[])p.Clone()).ToArray();

    [Fact]
    public async Task Passes_a_three_page_form_with_its_pages_fetched_from_the_api_or_given_as_files()
    {
        var tps = TpsAt(0);
        var pages = Pages(3, 9_000, seed: 1);
        var signed = await DeliverWithPagesAsync(tps, ContestId.Dpr, pages);
        Assert.Equal(ImageChunk.FormImageHash(pages), signed.Submission.ImageHash);

        var fetched = await Verify(tps, ContestId.Dpr);
        Assert.True(fetched.Ok, Describe(fetched));
        Assert.Equal(AllChecks, fetched.Checks.Select(c => c.Name));
        Assert.Equal(CheckStatus.Skipped, fetched["revocation"]!.Status);   // the cloud has no CRL installed
        Assert.Equal(signed.Hash.ToString(), fetched.Facts["submission_hash"]);
        Assert.Equal(signed.Submission.ImageHash.ToString(), fetched.Facts["image_hash"]);
        Assert.Equal("3", fetched.Facts["image_pages"]);
        Assert.Contains("Fetched all 3 pages", fetched["image_pages"]!.Detail);

        var local = await Verify(tps, ContestId.Dpr, pages);
        Assert.True(local.Ok, Describe(local));
        Assert.Contains("given as files", local["image_pages"]!.Detail);
        Assert.Equal(0, local.ExitCode);
    }

    [Fact]
    public async Task Fails_an_altered_page_file_naming_the_page_and_pages_in_the_wrong_order()
    {
        var tps = TpsAt(1);
        var pages = Pages(3, 8_000, seed: 2);
        await DeliverWithPagesAsync(tps, ContestId.Ppwp, pages);

        var altered = Copy(pages);
        altered[1][altered[1].Length / 2] ^= 0x01;
        var report = await Verify(tps, ContestId.Ppwp, altered);
        Assert.Equal(1, report.ExitCode);
        Assert.Equal("image_mismatch", report["image_hash"]!.Error);
        Assert.Contains("page 2 differs", report["image_hash"]!.Detail);
        Assert.DoesNotContain("page 1 ", report["image_hash"]!.Detail);
        Assert.DoesNotContain("page 3", report["image_hash"]!.Detail);
        // Everything before the photos still holds: the form is genuine and logged.
        Assert.All(report.Checks.Where(c => c.Name != "image_hash"), c => Assert.True(c.Ok, $"{c.Name}: {c.Detail}"));

        var swapped = await Verify(tps, ContestId.Ppwp, [pages[1], pages[0], pages[2]]);
        Assert.Equal("image_mismatch", swapped["image_hash"]!.Error);
        Assert.Contains("page 1 is the signed page 2", swapped["image_hash"]!.Detail);
        Assert.Contains("page 2 is the signed page 1", swapped["image_hash"]!.Detail);

        var shortOfPages = await Verify(tps, ContestId.Ppwp, pages[..2]);
        Assert.Equal("image_mismatch", shortOfPages["image_hash"]!.Error);
        Assert.Contains("page 3 is missing", shortOfPages["image_hash"]!.Detail);
    }

    [Fact]
    public async Task Fails_a_form_whose_images_never_arrived_then_arrived_in_part()
    {
        var tps = TpsAt(2);
        var pages = Pages(3, 6_000, seed: 3);
        var imageHash = ImageChunk.FormImageHash(pages);
        // The form names its three pages, but the device's outbox never held them: only the tally is delivered.
        var signed = await DeliverAsync(tps, (outbox, signer) => outbox.SignAndAdd(signer, World.Tally(ContestId.Dpd, tps), imageHash));

        var none = await Verify(tps, ContestId.Dpd);
        Assert.Equal(1, none.ExitCode);
        Assert.Equal(CheckStatus.Passed, none["image_named"]!.Status);
        Assert.Equal("image_missing", none["image_pages"]!.Error);
        Assert.Null(none["image_hash"]);

        // The first page arrives (through the cloud's own image receiver, as the broker hands it chunks).
        var receiver = (ImageReceiver)fixture.Cloud.Services.GetService(typeof(ImageReceiver))!;
        var pageHashes = pages.Select(p => Sha256Hash.Of(p)).ToArray();
        foreach (var chunk in ImageChunk.Split(imageHash, pageHashes, 0, pages[0], 4096))
            Assert.NotEqual(ImageAckStatus.Rejected, (await receiver.ReceiveAsync(Topics.Image(tps, ContestId.Dpd, signed.Submission.DeviceId), chunk.Encode())).Status);

        var partial = await Verify(tps, ContestId.Dpd);
        Assert.Equal(1, partial.ExitCode);
        Assert.Equal("image_incomplete", partial["image_pages"]!.Error);
        Assert.Contains("1 of the 3 pages", partial["image_pages"]!.Detail);
        Assert.Contains("missing: page 2, 3", partial["image_pages"]!.Detail);
        Assert.Equal(signed.Submission.ImageHash.ToString(), partial.Facts["image_hash"]);

        // Files the witness holds need no upload: they verify against the signed hash all the same.
        Assert.True((await Verify(tps, ContestId.Dpd, pages)).Ok);
    }

    [Fact]
    public async Task Fails_a_form_that_names_no_image()
    {
        var tps = TpsAt(3);
        await DeliverAsync(tps, (outbox, signer) => outbox.SignAndAdd(signer, World.Tally(ContestId.Ppwp, tps)));

        var report = await Verify(tps, ContestId.Ppwp);
        Assert.Equal(1, report.ExitCode);
        Assert.Equal("no_image", report["image_named"]!.Error);
        Assert.Equal(CheckStatus.Passed, report["signature"]!.Status);
        Assert.Null(report["image_pages"]);
    }

    [Fact]
    public async Task Trusts_only_the_signed_hash_not_the_clouds_disk()
    {
        var tps = TpsAt(4);
        var pages = Pages(3, 7_000, seed: 4);
        var signed = await DeliverWithPagesAsync(tps, ContestId.Dpr, pages);
        Assert.True((await Verify(tps, ContestId.Dpr)).Ok);

        // Someone with access to the cloud's image store swaps the second page's photo for another one.
        string stored = Path.Combine(fixture.Cloud.Options.ImageDirectory, ImageReceiver.RelativePath(tps, ContestId.Dpr, signed.Submission.ImageHash, 1));
        var forged = (byte[])pages[1].Clone();
        forged[100] ^= 0x80;
        File.WriteAllBytes(stored, forged);
        Assert.Equal(forged, await fixture.Http.GetByteArrayAsync(new Uri(fixture.Cloud.ApiBase, $"api/v1/images/{tps}/dpr/{signed.Submission.ImageHash}/2")));

        var report = await Verify(tps, ContestId.Dpr);
        Assert.Equal(1, report.ExitCode);
        Assert.Equal(CheckStatus.Passed, report["image_pages"]!.Status);
        Assert.Equal("image_mismatch", report["image_hash"]!.Error);
        Assert.Contains("page 2 differs", report["image_hash"]!.Detail);
        Assert.Contains(Sha256Hash.Of(forged).ToString()[..16], report["image_hash"]!.Detail);
    }

    [Fact]
    public async Task Refuses_a_served_page_larger_than_a_link_image_can_be()
    {
        var tps = TpsAt(6);
        var pages = Pages(2, 5_000, seed: 5);
        var signed = await DeliverWithPagesAsync(tps, ContestId.Ppwp, pages);
        string stored = Path.Combine(fixture.Cloud.Options.ImageDirectory, ImageReceiver.RelativePath(tps, ContestId.Ppwp, signed.Submission.ImageHash, 0));
        File.WriteAllBytes(stored, new byte[ImageChunk.MaxPageBytes + 1]);

        var report = await Verify(tps, ContestId.Ppwp);
        Assert.Equal(1, report.ExitCode);
        Assert.Equal("image_incomplete", report["image_pages"]!.Error);
        Assert.Contains("missing: page 1 (refused: larger than", report["image_pages"]!.Detail);
    }

    [Fact]
    public async Task Runs_from_the_command_line_and_saves_the_pages_that_verified()
    {
        var tps = TpsAt(5);
        var pages = Pages(2, 5_000, seed: 6);
        await DeliverWithPagesAsync(tps, ContestId.DprdKabKota, pages);
        string dir = Directory.CreateTempSubdirectory("kpu-verify-image-").FullName;
        try
        {
            string root = Path.Combine(dir, "root.pem"), issuing = Path.Combine(dir, "issuing.pem"), saved = Path.Combine(dir, "saved");
            File.WriteAllText(root, Anchors.RootPem);
            File.WriteAllText(issuing, Anchors.IssuingPem);
            string[] common = ["image", "--log", fixture.Cloud.ApiBase.ToString(), "--key", fixture.Pki.LogKey.Format(), "--root", root, "--issuing", issuing,
                "--tps", tps.Value, "--contest", "dprd-kab"];

            var (code, output) = await Run([.. common, "--save", saved]);
            Assert.True(code == 0, output);
            Assert.Contains("✓ image_hash:", output);
            Assert.Equal(pages[0], File.ReadAllBytes(Path.Combine(saved, "dprd-kab-p1.jpg")));
            Assert.Equal(pages[1], File.ReadAllBytes(Path.Combine(saved, "dprd-kab-p2.jpg")));

            // The saved files, given back in the wrong order: a failed check, exit code 1, in JSON.
            (code, output) = await Run([.. common, "--page", Path.Combine(saved, "dprd-kab-p2.jpg"), "--page", Path.Combine(saved, "dprd-kab-p1.jpg"), "--json"]);
            Assert.Equal(1, code);
            Assert.Contains("\"image_mismatch\"", output);

            (code, output) = await Run([.. common, "--page", Path.Combine(saved, "dprd-kab-p1.jpg"), "--save", saved]);
            Assert.Equal(2, code);
            Assert.Contains("[usage]", output);
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    private async Task<(int Code, string Output)> Run(string[] args)
    {
        var stdout = new StringWriter();
        int code = await Cli.RunAsync(args, stdout, new StringWriter(), fixture.Http);
        return (code, stdout.ToString());
    }
}
