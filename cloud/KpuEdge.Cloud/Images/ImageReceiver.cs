using System.Globalization;
using KpuEdge.Cloud.Ledger;
using KpuEdge.Cloud.Security;
using KpuEdge.Cloud.Transparency;
using KpuEdge.Core.Elections;
using KpuEdge.Core.Protocol;
using KpuEdge.Core.Regions;
using KpuEdge.Core.Security;
using KpuEdge.Crypto;
using KpuEdge.Crypto.Images;
using KpuEdge.Crypto.Transparency;
using Microsoft.Extensions.Options;

namespace KpuEdge.Cloud.Images;

/// <summary>
/// Takes form images in chunks (protocol v1, <see cref="ImageChunk"/>): only for a form the ledger has accepted whose
/// signed image hash they match, each page put together durably (<see cref="PageAssembler"/>) and checked against its
/// hash when complete, then stored under the image root in a folder per TPS:
/// <c>{root}/{province}/{kabupaten}/{kecamatan}/{desa}/{tps}/{contest}/{image hash}-p{page}.jpg</c>.
/// Every chunk gets an answer saying how many bytes of its page are held, so a sender resumes where the cloud stands;
/// a final answer (stored, or refused) carries a statement signed by the log key (<see cref="ImageStatement"/>), without
/// which a device does not give the page up.
/// </summary>
public sealed class ImageReceiver
{
    private readonly IImageIndex _ledger;
    private readonly Ingest.DeviceRegistryProvider _devices;
    private readonly TransparencyLog _log;
    private readonly SecurityEventRecorder _events;
    private readonly TimeProvider _time;
    private readonly ILogger<ImageReceiver> _logger;
    private readonly PageAssembler _assembler;
    private long _chunks, _bytes, _pagesStored, _refused;

    public ImageReceiver(IOptions<CloudOptions> options, IImageIndex ledger, Ingest.DeviceRegistryProvider devices, TransparencyLog log,
        SecurityEventRecorder events, TimeProvider time, ILogger<ImageReceiver> logger)
    {
        _ledger = ledger;
        _devices = devices;
        _log = log;
        _events = events;
        _time = time;
        _logger = logger;
        Root = Path.GetFullPath(options.Value.ImageDirectory);
        _assembler = new PageAssembler(Path.Combine(Root, ".partial"));
    }

    /// <summary>Where stored pages lie.</summary>
    public string Root { get; }

    public ImageStats Stats => new(Interlocked.Read(ref _chunks), Interlocked.Read(ref _bytes), Interlocked.Read(ref _pagesStored), Interlocked.Read(ref _refused));

    /// <summary>
    /// Takes one chunk from <paramref name="topic"/> (<c>kpu/v1/tps/{tps}/img/{contest}/{sender}</c>); the answer is
    /// durable before it is returned, and is for the sender the topic names.
    /// </summary>
    public async Task<ImageAck> ReceiveAsync(string topic, ReadOnlyMemory<byte> payload)
    {
        Interlocked.Increment(ref _chunks);
        if (!Topics.TryParseImage(topic, out var address))
            return Refuse(Sha256Hash.Empty, 0, ImageRefusals.Misaddressed, $"'{topic}' is not an image topic (kpu/v1/tps/{{tps}}/img/{{contest}}/{{sender}}).");
        var (tps, contest, sender) = address;
        ImageChunk chunk;
        try
        {
            chunk = ImageChunk.Decode(payload);
        }
        catch (ImageChunkFormatException e)
        {
            var unread = Refuse(Sha256Hash.Empty, 0, e.Reason, e.Message);
            return e.Reason == ImageRefusals.Oversized ? Suspicious(unread, address, topic, null, payload.Length) : unread;
        }
        // Only for a form accepted for that TPS and contest, and only from its signer (or a station relaying for it): a
        // device cannot feed, restart or spoil the pages of another device's form.
        var signers = await _ledger.ImageSignersAsync(tps, contest, chunk.ImageHash);
        if (signers.Count == 0)
            return Suspicious(Refuse(chunk, ImageRefusals.UnknownImage,
                $"No accepted {contest.Slug()} form of TPS {tps} names image {chunk.ImageHash}: send the form first."), address, topic, chunk, payload.Length);
        if (!await AnyMayDeliverAsync(sender, signers))
            return Suspicious(Refuse(chunk, ImageRefusals.UnknownImage,
                $"Image {chunk.ImageHash} belongs to a form of device {string.Join(", ", signers)}, not of '{sender}'."), address, topic, chunk, payload.Length);

        var stored = await _ledger.ImagePagesAsync(chunk.ImageHash);
        if (stored.FirstOrDefault(p => p.Page == chunk.Page) is { } held) return Stored(chunk, held.StoredAt, stored.Count);

        string relative = RelativePath(tps, contest, chunk.ImageHash, chunk.Page);
        var result = _assembler.Add(chunk, Path.Combine(Root, relative));
        Interlocked.Add(ref _bytes, chunk.Data.Length);
        if (result.Refusal is { } refusal) return Suspicious(Refuse(chunk, refusal, result.Detail!), address, topic, chunk, payload.Length);
        if (!result.Stored) return Ack(chunk, ImageAckStatus.Partial, result.Received, stored.Count);

        var storedAt = _time.GetUtcNow();
        await _ledger.RecordImagePageAsync(new StoredImagePage(chunk.ImageHash, chunk.Page, chunk.PageHashes.Count, chunk.PageHash, tps, contest,
            chunk.PageSize, relative, storedAt));
        Interlocked.Increment(ref _pagesStored);
        int pagesStored = (await _ledger.ImagePagesAsync(chunk.ImageHash)).Count;
        if (pagesStored == chunk.PageHashes.Count)
            _logger.LogInformation("Image {Hash} of {Contest} TPS {Tps} complete ({Pages} pages)", chunk.ImageHash, contest.Slug(), tps, pagesStored);
        return Stored(chunk, storedAt, pagesStored);
    }

    private async Task<bool> AnyMayDeliverAsync(string sender, IReadOnlyList<string> signers)
    {
        foreach (var signer in signers)
            if (await _devices.MayDeliverAsync(sender, signer)) return true;
        return false;
    }

    /// <summary>A stored page's file, if it is stored.</summary>
    public string? PathOf(StoredImagePage page)
    {
        string path = Path.GetFullPath(Path.Combine(Root, page.Path));
        return path.StartsWith(Root, StringComparison.Ordinal) && File.Exists(path) ? path : null;
    }

    public static string RelativePath(TpsCode tps, ContestId contest, Sha256Hash imageHash, int page)
    {
        string v = tps.Value;
        return Path.Combine(v[..2], v[..4], v[..6], v[..10], v, contest.Slug(), $"{imageHash}-p{page + 1}.jpg");
    }

    /// <summary>The page is stored: the answer carries the signed statement, dated when it was stored (the same on every repeat).</summary>
    private ImageAck Stored(ImageChunk chunk, DateTimeOffset storedAt, int pagesStored) =>
        Ack(chunk, ImageAckStatus.Stored, chunk.PageSize, pagesStored) with
        {
            Statement = _log.SignImage(new ImageStatement(chunk.ImageHash, chunk.Page, chunk.PageHash, ImageStatement.Stored, storedAt)),
        };

    private ImageAck Ack(ImageChunk chunk, ImageAckStatus status, int received, int pagesStored) => new()
    {
        Status = status,
        ImageHash = chunk.ImageHash.ToString(),
        Page = chunk.Page,
        Received = received,
        Size = chunk.PageSize,
        PagesStored = pagesStored,
        Pages = chunk.PageHashes.Count,
        Ts = _time.GetUtcNow(),
    };

    /// <summary>
    /// A refusal about the content (bytes that do not hash to what the device signed, a page contradicting its stored size,
    /// an image no accepted form names) or an oversized chunk is a security event: a broken or tampered device, or
    /// somebody probing.
    /// </summary>
    private ImageAck Suspicious(ImageAck refusal, TpsTopic address, string topic, ImageChunk? chunk, int size)
    {
        var evidence = new Dictionary<string, string>(StringComparer.Ordinal)
        {
            ["reason"] = refusal.Reason ?? "", ["topic"] = topic, ["size"] = size.ToString(CultureInfo.InvariantCulture),
        };
        if (chunk is not null)
        {
            evidence["image_hash"] = chunk.ImageHash.ToString();
            evidence["page"] = chunk.Page.ToString(CultureInfo.InvariantCulture);
            evidence["page_hash"] = chunk.PageHash.ToString();
        }
        _events.Record(new SecurityEvent
        {
            Ts = refusal.Ts, Kind = SecurityEventKinds.ImageRefused, Severity = SecuritySeverity.Warning, Source = SecurityEventSources.Ingest,
            DeviceId = address.Sender, Tps = address.Tps.Value, Detail = refusal.Detail ?? refusal.Reason ?? "",
            Evidence = evidence,
        });
        return refusal;
    }

    /// <summary>
    /// A refusal of a chunk that names its page: signed only when it is final about the page's own bytes
    /// (<see cref="ImageRefusals.IsFinal"/>), so a refusal for where a chunk came from can never make a device give a page up.
    /// </summary>
    private ImageAck Refuse(ImageChunk chunk, string reason, string detail)
    {
        var refusal = Refuse(chunk.ImageHash, chunk.Page, reason, detail, chunk.PageHashes.Count);
        return ImageRefusals.IsFinal(reason)
            ? refusal with { Statement = _log.SignImage(new ImageStatement(chunk.ImageHash, chunk.Page, chunk.PageHash, reason, refusal.Ts)) }
            : refusal;
    }

    private ImageAck Refuse(Sha256Hash imageHash, int page, string reason, string detail, int pages = 0)
    {
        Interlocked.Increment(ref _refused);
        _logger.LogWarning("Image chunk refused ({Reason}): {Detail}", reason, detail);
        return new ImageAck
        {
            Status = ImageAckStatus.Rejected, ImageHash = imageHash.IsEmpty ? "" : imageHash.ToString(), Page = page, Pages = pages,
            Reason = reason, Detail = detail, Ts = _time.GetUtcNow(),
        };
    }
}

/// <summary>Counters of the image path since start.</summary>
public sealed record ImageStats(long Chunks, long Bytes, long PagesStored, long Refused);
