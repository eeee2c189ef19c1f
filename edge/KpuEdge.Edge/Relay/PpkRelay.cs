using System.Buffers;
using System.Collections;
using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using System.Security.Cryptography.X509Certificates;
using System.Threading.Channels;
using KpuEdge.Core.Elections;
using KpuEdge.Core.Protocol;
using KpuEdge.Core.Regions;
using KpuEdge.Crypto;
using KpuEdge.Crypto.Health;
using KpuEdge.Crypto.Images;
using KpuEdge.Crypto.Pki;
using KpuEdge.Edge.Delivery;
using KpuEdge.Edge.Transport;
using Microsoft.Data.Sqlite;
using MQTTnet;
using MQTTnet.Protocol;
using MQTTnet.Server;
using KpuEdge.Broker;

namespace KpuEdge.Edge.Relay;

/// <summary>Where a PPK station listens for its TPS devices and how it forwards to the cloud.</summary>
public sealed record PpkRelayOptions
{
    /// <summary>The kecamatan office's network; loopback in tests.</summary>
    public IPAddress ListenAddress { get; init; } = IPAddress.Any;
    /// <summary>TLS port of the station's broker; 0 picks a free one (see <see cref="PpkRelay.Port"/>).</summary>
    public int Port { get; init; } = 8883;
    /// <summary>How the station's own delivery loop treats its link to the cloud.</summary>
    public DeliveryOptions Delivery { get; init; } = new();
    /// <summary>What TPS devices' TLS certificates are checked against; default the station's chain (root and issuing CA, no CRL).</summary>
    public TrustStore? ClientTrust { get; init; }
    public int MaxPendingPerClient { get; init; } = 1000;
    /// <summary>The station broker's bounds (handshake and CONNECT timeouts, connections per address, packet sizes, publish quotas).</summary>
    public BrokerLimits Limits { get; init; } = new();
}

/// <summary>
/// A PPK station: store and forward for the TPS devices of one kecamatan whose own link is down. It runs a local
/// MQTTnet broker on the kecamatan office's network with the cloud's rules (protocol v1, docs/protocol.md): TLS only,
/// a client certificate of role <c>tps</c> from KPU's CA, valid now, whose TPS lies in the station's kecamatan; client
/// id = the certificate's name; a device publishes only its own TPS's form and image topics and subscribes only to its
/// own receipt and image topics.
/// <para>
/// Forms: each is checked as far as a station can without the device registry (decodes canonically, sits on its own
/// TPS's topic, belongs to the election) and stored unchanged in the station's own <see cref="Delivery.Outbox"/>
/// before the device gets its PUBACK; the station's <see cref="DeliveryLoop"/>, with the PPK's credentials, forwards
/// it to the cloud, which checks the TPS device's signature whatever the path. When the cloud's receipt arrives and
/// its inclusion proof verifies, the station keeps it (<see cref="RelayStore"/>) and publishes it unchanged to the
/// device's receipt topic with the device's correlation data: the device checks the proof itself, so a station cannot
/// make it believe a form was logged. A device that sends a form again gets the kept receipt again. Garbage gets a
/// <c>rejected</c> receipt with the reason the cloud would give, and nothing is stored.
/// </para>
/// <para>
/// Images: chunks are taken only for an image that a form the station holds names for that TPS and contest, put
/// together durably (<see cref="PageAssembler"/>) and checked against their page hash, and answered with an
/// <see cref="ImageAck"/> as the cloud would, so the device resumes and finishes as it does against the cloud. A page
/// answered <c>stored</c> is stored <em>at the station</em> (store and forward), not yet at the cloud: once all pages
/// of a form are held they go into the station's outbox and follow the form to the cloud.
/// </para>
/// </summary>
public sealed class PpkRelay : IAsyncDisposable
{
    /// <summary>Correlation data longer than this is not kept (ours is the 32-byte submission hash).</summary>
    private const int MaxCorrelationBytes = 64;

    private readonly DeviceCredentials _station;
    private readonly string _kecamatan;
    private readonly TrustStore _trust;
    private readonly X509Certificate2 _serverCertificate;
    private readonly PpkRelayOptions _options;
    private readonly TimeProvider _time;
    private readonly RelayStore _store;
    private readonly string _pagesDirectory;
    private readonly PageAssembler _assembler;
    private readonly DeliveryLoop _loop;
    private readonly Channel<MqttApplicationMessage> _answers = Channel.CreateBounded<MqttApplicationMessage>(
        new BoundedChannelOptions(4096) { SingleReader = true, FullMode = BoundedChannelFullMode.DropWrite });
    private readonly CancellationTokenSource _stopping = new();
    private KpuBroker? _broker;
    private Task _forwarding = Task.CompletedTask;
    private Task _answering = Task.CompletedTask;

    /// <param name="directory">The station's folder: its outbox, what it remembers (<c>relay.db</c>) and page images.</param>
    /// <param name="station">The PPK's credentials: its kecamatan, and its certificate for the link to the cloud.</param>
    /// <param name="serverCertificate">The local broker's TLS certificate with its key: a KPU <c>service</c> TLS server certificate, as TPS devices accept only those.</param>
    /// <param name="cloud">How the station reaches the cloud (with the log key: receipts are checked before they are passed on).</param>
    public PpkRelay(string directory, DeviceCredentials station, X509Certificate2 serverCertificate, BrokerConnection cloud,
        PpkRelayOptions? options = null, TimeProvider? time = null)
    {
        if (station.Identity.Role != KpuRole.Ppk) throw new ArgumentException($"'{station.DeviceId}' is not a PPK station.", nameof(station));
        if (cloud.LogKey is null) throw new ArgumentException("A station checks the cloud's receipts before passing them on: the connection needs the log key.", nameof(cloud));
        if (!serverCertificate.HasPrivateKey) throw new ArgumentException("The broker's TLS certificate comes with its private key.", nameof(serverCertificate));
        _station = station;
        _kecamatan = station.Identity.Assignment;
        _options = options ?? new PpkRelayOptions();
        _time = time ?? TimeProvider.System;
        _trust = _options.ClientTrust ?? station.CreateTrustStore();
        if (!KpuTls.IsTrustedServer(_trust, serverCertificate, _time.GetUtcNow(), out string error))
            throw new ArgumentException($"TPS devices would refuse this broker certificate ({error}).", nameof(serverCertificate));
        _serverCertificate = serverCertificate;

        Directory.CreateDirectory(directory);
        Outbox = new Outbox(Path.Combine(directory, Outbox.FileName), _time);
        _store = new RelayStore(Path.Combine(directory, RelayStore.FileName));
        _pagesDirectory = Path.Combine(directory, "relay-images");
        _assembler = new PageAssembler(Path.Combine(_pagesDirectory, ".partial"));
        _loop = new DeliveryLoop(Outbox, station.DeviceId, cloud, _options.Delivery, _time);
        _loop.Receipted += OnCloudReceipt;
        _loop.PageSettled += OnCloudPageAnswer;
        _loop.StatusChanged += status => StatusChanged?.Invoke(status);
    }

    /// <summary>The station's own outbox: the forms and pages it holds for the cloud, and its own statements.</summary>
    public Outbox Outbox { get; }

    /// <summary>The PPK's work on the kecamatan through this station: statements signed into its outbox and sent when the link allows.</summary>
    public Station.StationDesk Desk(ElectionDefinition election, RegionTree tree) =>
        new(Outbox, StatementSigner.For(_station, election, election.Ballots(tree), _time), tree, election.Ballots(tree), _loop.Wake);

    public string Name => _station.DeviceId;

    public RegionCode Kecamatan => RegionCode.Parse(_kecamatan);

    /// <summary>The port the local broker listens on (known once started).</summary>
    public int Port { get; private set; }

    /// <summary>Whether the link to the cloud is up, and how often it was (re)made.</summary>
    public bool IsForwarding => _loop.IsConnected;

    /// <summary>The station's own link to the cloud (its health reports go through it).</summary>
    public DeliveryLoop Uplink => _loop;
    public long CloudConnects => _loop.Connects;

    /// <summary>Cloud receipts the station did not believe (their proof failed): not passed on, the form is sent again.</summary>
    public long ReceiptsRefused => _loop.ReceiptsRefused;

    /// <summary>Raised on the broker's and the loop's threads: keep handlers short.</summary>
    public event Action<RelayEvent>? Relayed;

    /// <summary>The station's outbox after every change of its delivery to the cloud.</summary>
    public event Action<OutboxStatus>? StatusChanged;

    /// <summary>Opens the local broker and starts forwarding to the cloud (retrying while the link is down).</summary>
    public async Task StartAsync(CancellationToken cancellationToken = default)
    {
        if (_broker is not null) throw new InvalidOperationException("The relay is already running.");
        cancellationToken.ThrowIfCancellationRequested();
        // KpuEdge's one broker, with the station's rules: TPS devices of this kecamatan only, each to its own topics.
        var broker = new KpuBroker(new KpuBrokerOptions
        {
            Endpoint = new IPEndPoint(_options.ListenAddress, _options.Port),
            ServerCertificate = _serverCertificate,
            Trust = () => _trust,
            Roles = [KpuRole.Tps],
            Admit = identity => identity.Assignment.StartsWith(_kecamatan, StringComparison.Ordinal) ? null
                : $"This PPK station relays for the TPS of kecamatan {_kecamatan}; '{identity.Name}' serves {identity.Role.ToText()} {identity.Assignment}.",
            MayPublish = (identity, topic) =>
                (Topics.TryParseSubmission(topic, out var address) || Topics.TryParseImage(topic, out address))
                && address.Tps.Value == identity.Assignment && address.Sender == identity.Name
                || topic == Topics.Telemetry(identity.Name),
            MaySubscribe = (identity, filter) => filter == Topics.Receipt(identity.Name) || filter == Topics.ImageAck(identity.Name),
            OnPublish = OnPublishAsync,
            OnSubscribed = OnSubscribed,
            Limits = _options.Limits,
            MaxPendingMessagesPerClient = _options.MaxPendingPerClient,
            Time = _time,
        });
        broker.Refused += refusal => Raise(new RelayEvent(
            refusal.Kind is BrokerRefusalKinds.AclPublishDenied or BrokerRefusalKinds.AclSubscribeDenied or BrokerRefusalKinds.RateLimited
                ? RelayEventKind.Denied : RelayEventKind.ConnectionRefused,
            refusal.ClientId ?? refusal.ClaimedName, refusal.Suppressed > 0 ? $"{refusal.Detail} ({refusal.Suppressed} more like it)" : refusal.Detail)
            { Reason = refusal.Kind, Source = refusal.Source?.ToString() });
        broker.Failed += (source, e) => Raise(new RelayEvent(RelayEventKind.Failed, null, $"connection from {source}: {e.Message}"));
        broker.Connected += client => Raise(new RelayEvent(RelayEventKind.Connected, client.Identity.Name, $"connected for TPS {client.Identity.Assignment}")
            { Tps = TpsCode.Parse(client.Identity.Assignment), Source = client.Source?.ToString() });
        await broker.StartAsync();
        _broker = broker;
        Port = broker.Port;
        ForwardCompletedImages();
        _answering = AnswerAsync(_stopping.Token);
        _forwarding = _loop.RunAsync(_stopping.Token);
    }

    /// <summary>
    /// The station's TLS server certificate from PEM files (<c>kpu-provision ca issue-service --purpose tls-server</c>),
    /// checked as TPS devices will check it: KPU's CA, role <c>service</c>, serverAuth, valid now.
    /// </summary>
    public static X509Certificate2 LoadServerCertificate(string certificatePem, string keyPem, TrustStore trust, DateTimeOffset now)
    {
        var certificate = KpuCertificate.FromPem(File.ReadAllText(certificatePem));
        var key = TlsKey.FromPem(File.ReadAllText(keyPem));
        if (!key.Matches(certificate)) throw new InvalidDataException($"{keyPem} is not the key of {certificatePem}.");
        var verdict = trust.Validate(certificate, CertificatePurpose.TlsServer, now, KpuRole.Service);
        if (!verdict.Ok)
            throw new InvalidDataException($"{certificatePem} is not a TLS server certificate TPS devices accept ({verdict.Error}: {verdict.Detail}).");
        return key.WithCertificate(certificate);
    }

    /// <summary>
    /// A device subscribing to its image answers (on every connection) is given the cloud's signed word about its pages
    /// kept here: a device that was away when the cloud answered settles its photos at once, without asking page by page.
    /// </summary>
    private void OnSubscribed(string clientId, string filter)
    {
        if (filter == Topics.ImageAck(clientId))
            foreach (var answer in _store.PageAnswersOf(clientId)) Answer(filter, answer, null);
    }

    /// <summary>A publish the broker's ACL and quota let through: a device's own form or chunk, for its own TPS.</summary>
    private Task OnPublishAsync(KpuIdentity device, InterceptingPublishEventArgs e)
    {
        // The station is the only reader of what devices publish here: nothing is routed on.
        e.ProcessPublish = false;
        var message = e.ApplicationMessage;
        try
        {
            // A device publishes under its own name, for its own TPS: its answers go to that name whatever it asks.
            if (Topics.TryParseSubmission(message.Topic, out var address) && address.Tps.Value == device.Assignment && address.Sender == device.Name)
                TakeSubmission(e, device, address.Tps, address.Contest);
            else if (Topics.TryParseImage(message.Topic, out address) && address.Tps.Value == device.Assignment && address.Sender == device.Name)
                TakeChunk(message, device, address.Tps, address.Contest);
            else if (Topics.TryParseTelemetry(message.Topic, out var reporter) && reporter == device.Name)
                TakeHealth(e, device);
            else
            {
                e.Response.ReasonCode = MqttPubAckReasonCode.NotAuthorized;
                e.Response.ReasonString = $"'{device.Name}' may publish only the forms, images and health reports of TPS {device.Assignment}.";
                Raise(new RelayEvent(RelayEventKind.Denied, device.Name, $"may not publish to '{message.Topic}'"));
            }
        }
        catch (Exception ex) when (ex is SqliteException or IOException or UnauthorizedAccessException)
        {
            // Not taken and not answered: the device keeps it and sends it again.
            e.Response.ReasonCode = MqttPubAckReasonCode.ImplementationSpecificError;
            e.Response.ReasonString = "The station could not store it; send it again later.";
            Raise(new RelayEvent(RelayEventKind.Failed, device.Name, ex.Message));
        }
        return Task.CompletedTask;
    }

    /// <summary>
    /// A device's health report: read strictly (its own, its size), kept in the station's outbox and forwarded under the
    /// station's name; the cloud checks the device's signature and that its TPS is in this kecamatan.
    /// </summary>
    private void TakeHealth(InterceptingPublishEventArgs e, KpuIdentity device)
    {
        var payload = e.ApplicationMessage.Payload.ToArray();
        HealthReport report;
        try { report = SignedHealthReport.Decode(payload).Report; }
        catch (HealthFormatException ex)
        {
            e.Response.ReasonCode = MqttPubAckReasonCode.PayloadFormatInvalid;
            e.Response.ReasonString = ex.Message;
            Raise(new RelayEvent(RelayEventKind.Denied, device.Name, $"health report refused: {ex.Message}"));
            return;
        }
        if (report.DeviceId != device.Name)
        {
            e.Response.ReasonCode = MqttPubAckReasonCode.NotAuthorized;
            e.Response.ReasonString = $"A device relays only its own health reports, not {report.DeviceId}'s.";
            Raise(new RelayEvent(RelayEventKind.Denied, device.Name, $"health report of '{report.DeviceId}' refused"));
            return;
        }
        Outbox.AddRelayedHealth(device.Name, payload, urgent: report.Events.Count > 0);
        _loop.Wake();
    }

    private sealed record Verdict(SignedSubmission? Signed, Submission? Submission, string? Reason, string? Detail);

    /// <summary>What a station can check without the device registry; the cloud checks everything else (signature first).</summary>
    private Verdict Check(string topic, byte[] payload, KpuIdentity device, TpsCode tps, ContestId contest)
    {
        if (payload.Length > SubmissionCodec.MaxWireBytes)
            return new Verdict(null, null, RejectReasons.Oversized, $"Payload is {payload.Length} bytes; the limit is {SubmissionCodec.MaxWireBytes}.");
        SignedSubmission signed;
        try
        {
            signed = SignedSubmission.Decode(payload);
        }
        catch (SubmissionFormatException e)
        {
            return new Verdict(null, null, e.RejectReason, e.Message);
        }
        var s = signed.Submission;
        if (s.DeviceId != device.Name)
            return new Verdict(null, s, RejectReasons.ReplayedByOtherDevice, $"'{device.Name}' sent a form signed by '{s.DeviceId}'; a device sends only its own forms.");
        if (s.Tps != tps || s.Contest != contest)
            return new Verdict(null, s, RejectReasons.Misaddressed, $"Published to '{topic}' but the form is {s.Contest.Slug()} of TPS {s.Tps}.");
        if (!s.Tps.Value.StartsWith(_kecamatan, StringComparison.Ordinal))
            return new Verdict(null, s, RejectReasons.Misaddressed, $"TPS {s.Tps} is not in kecamatan {_kecamatan} of this PPK station.");
        if (s.ElectionId != _station.Identity.ElectionId)
            return new Verdict(null, s, RejectReasons.WrongElection, $"Form is for election '{s.ElectionId}', this station relays '{_station.Identity.ElectionId}'.");
        return new Verdict(signed, s, null, null);
    }

    private void TakeSubmission(InterceptingPublishEventArgs e, KpuIdentity device, TpsCode tps, ContestId contest)
    {
        var message = e.ApplicationMessage;
        byte[] payload = message.Payload.ToArray();
        byte[]? correlation = Correlation(message);
        var verdict = Check(message.Topic, payload, device, tps, contest);
        if (verdict.Signed is not { } signed)
        {
            e.Response.ReasonCode = verdict.Reason == RejectReasons.Misaddressed ? MqttPubAckReasonCode.TopicNameInvalid : MqttPubAckReasonCode.PayloadFormatInvalid;
            e.Response.ReasonString = $"{verdict.Reason}: {verdict.Detail}";
            var s = verdict.Submission;
            // The answer the cloud would give for these bytes; nothing of them is kept.
            var refusal = new Receipt
            {
                Status = ReceiptStatus.Rejected, SubmissionHash = Sha256Hash.Of(payload).ToString(), Reason = verdict.Reason, Detail = verdict.Detail,
                Tps = s?.Tps.Value, Contest = s?.Contest.Slug(), Sequence = s?.Sequence, Ts = _time.GetUtcNow(),
            };
            Answer(Topics.Receipt(device.Name), refusal.ToUtf8(), correlation);
            Raise(new RelayEvent(RelayEventKind.FormRefused, device.Name, verdict.Detail!) { Tps = tps, Contest = contest, Sequence = s?.Sequence, Reason = verdict.Reason });
            return;
        }
        var submission = signed.Submission;
        bool known = Outbox.Find(signed.Hash) is not null;
        // Durable before the PUBACK: the device may forget the form only once the station holds it.
        Outbox.Add(signed, submission.CorrectionReason is null ? OutboxPriority.Tally : OutboxPriority.Correction);
        _store.RecordForm(signed, device.Name, correlation, _time.GetUtcNow());
        Raise(new RelayEvent(known ? RelayEventKind.FormResent : RelayEventKind.FormTaken, device.Name, signed.Hash.ToString())
            { Tps = tps, Contest = contest, Sequence = submission.Sequence });
        if (_store.ReceiptFor(signed.Hash) is { } receipt)
        {
            Answer(Topics.Receipt(device.Name), receipt, correlation);
            Raise(Returned(device.Name, signed.Hash, submission, receipt));
        }
        else if (!known)
        {
            _loop.Wake();
        }
    }

    private void TakeChunk(MqttApplicationMessage message, KpuIdentity device, TpsCode tps, ContestId contest)
    {
        var ack = ReceiveChunk(device, tps, contest, message.Payload.ToArray());
        Answer(Topics.ImageAck(device.Name), ack.ToUtf8(), Correlation(message));
    }

    private ImageAck ReceiveChunk(KpuIdentity device, TpsCode tps, ContestId contest, byte[] payload)
    {
        ImageChunk chunk;
        try
        {
            chunk = ImageChunk.Decode(payload);
        }
        catch (ImageChunkFormatException e)
        {
            return RefuseChunk(device, tps, contest, Sha256Hash.Empty, 0, 0, e.Reason, e.Message);
        }
        int pages = chunk.PageHashes.Count;
        if (_store.FormsNaming(tps, contest, chunk.ImageHash).Count == 0)
            return RefuseChunk(device, tps, contest, chunk.ImageHash, chunk.Page, pages, ImageRefusals.UnknownImage,
                $"This station holds no {contest.Slug()} form of TPS {tps} naming image {chunk.ImageHash}: send the form first.");
        _store.RecordImage(chunk.ImageHash, tps, contest, chunk.PageHashes);
        string destination = PagePath(chunk.ImageHash, chunk.Page);
        bool had = File.Exists(destination);
        var result = _assembler.Add(chunk, destination);
        if (result.Refusal is { } refusal) return RefuseChunk(device, tps, contest, chunk.ImageHash, chunk.Page, pages, refusal, result.Detail!);
        int held = PagesHeld(chunk.ImageHash, pages);
        if (!result.Stored) return Ack(chunk, ImageAckStatus.Partial, result.Received, held);
        if (!had)
            Raise(new RelayEvent(RelayEventKind.PageHeld, device.Name, chunk.PageHash.ToString()) { Tps = tps, Contest = contest, Page = chunk.Page, Pages = pages });
        if (held == pages && _store.Image(chunk.ImageHash) is { Forwarded: false } image) ForwardImage(image);
        // The cloud's signed word once it came back; until then the station's own "held here", which the device takes
        // as handed over but not yet done.
        if (_store.PageAnswer(chunk.ImageHash, chunk.Page) is { } answer && ImageAck.TryParse(answer) is { } cloudAnswer) return cloudAnswer;
        return Ack(chunk, ImageAckStatus.Stored, chunk.PageSize, held);
    }

    /// <summary>
    /// The station's loop believed the cloud's final answer about a page (its statement verified): keep it, and pass it on
    /// unchanged to the devices whose page it is (one away gets it in its session, or when it asks about the page again).
    /// </summary>
    private void OnCloudPageAnswer(Sha256Hash imageHash, int page, ImageAck ack)
    {
        byte[] json = ack.ToUtf8();
        _store.SavePageAnswer(imageHash, page, json);
        foreach (var device in _store.DevicesOf(imageHash)) Answer(Topics.ImageAck(device), json, null);
    }

    /// <summary>Puts a complete image's pages into the outbox with the form that names them: they follow it to the cloud.</summary>
    private void ForwardImage(RelayedImage image)
    {
        // The form the cloud will take the pages for: any held form naming them, one the cloud refused last.
        var form = _store.FormsNaming(image.Tps, image.Contest, image.ImageHash)
            .Select(Outbox.Find).OfType<OutboxEntry>()
            .OrderBy(e => e.State == OutboxState.Rejected ? 1 : 0)
            .FirstOrDefault();
        if (form is null) return;
        var pages = Enumerable.Range(0, image.PageHashes.Count).Select(p => File.ReadAllBytes(PagePath(image.ImageHash, p))).ToList();
        Outbox.AddPages(SignedSubmission.Decode(form.Wire), pages);
        _store.MarkImageForwarded(image.ImageHash);
        _loop.Wake();
        Raise(new RelayEvent(RelayEventKind.ImageForwarded, null, image.ImageHash.ToString())
            { Tps = image.Tps, Contest = image.Contest, Pages = image.PageHashes.Count });
    }

    /// <summary>At start: images completed just before the last stop that never reached the outbox.</summary>
    private void ForwardCompletedImages()
    {
        foreach (var image in _store.ImagesNotForwarded())
            if (PagesHeld(image.ImageHash, image.PageHashes.Count) == image.PageHashes.Count) ForwardImage(image);
    }

    private string PagePath(Sha256Hash imageHash, int page) => Path.Combine(_pagesDirectory, $"{imageHash}-p{page + 1}.jpg");

    private int PagesHeld(Sha256Hash imageHash, int pages) => Enumerable.Range(0, pages).Count(p => File.Exists(PagePath(imageHash, p)));

    private ImageAck Ack(ImageChunk chunk, ImageAckStatus status, int received, int pagesHeld) => new()
    {
        Status = status, ImageHash = chunk.ImageHash.ToString(), Page = chunk.Page, Received = received, Size = chunk.PageSize,
        PagesStored = pagesHeld, Pages = chunk.PageHashes.Count, Ts = _time.GetUtcNow(),
    };

    private ImageAck RefuseChunk(KpuIdentity device, TpsCode tps, ContestId contest, Sha256Hash imageHash, int page, int pages, string reason, string detail)
    {
        Raise(new RelayEvent(RelayEventKind.ChunkRefused, device.Name, detail) { Tps = tps, Contest = contest, Page = page, Pages = pages, Reason = reason });
        return new ImageAck
        {
            Status = ImageAckStatus.Rejected, ImageHash = imageHash.IsEmpty ? "" : imageHash.ToString(), Page = page, Pages = pages,
            Reason = reason, Detail = detail, Ts = _time.GetUtcNow(),
        };
    }

    /// <summary>
    /// The station's loop believed a cloud receipt (its proof verified, or a rejection): keep it, then pass it on unchanged
    /// to every device that asked. Runs before the outbox records it, so a receipt is never recorded without being kept.
    /// </summary>
    private void OnCloudReceipt(OutboxEntry entry, Receipt receipt)
    {
        // The station's own statements are nobody else's to be told about: the outbox keeps their receipts.
        if (entry.Kind == OutboxKind.PpkStatement) return;
        byte[] json = receipt.ToUtf8();
        _store.SaveReceipt(entry.Hash, json, _time.GetUtcNow());
        var submission = SignedSubmission.Decode(entry.Wire).Submission;
        foreach (var (clientId, correlation) in _store.Requesters(entry.Hash))
        {
            Answer(Topics.Receipt(clientId), json, correlation);
            Raise(Returned(clientId, entry.Hash, submission, json));
        }
    }

    private static RelayEvent Returned(string deviceId, Sha256Hash hash, Submission submission, byte[] receipt) =>
        new(RelayEventKind.ReceiptReturned, deviceId, hash.ToString())
        {
            Tps = submission.Tps, Contest = submission.Contest, Sequence = submission.Sequence,
            Reason = Receipt.TryParse(receipt) is { } r ? (r.Reason ?? r.Status.ToString().ToLowerInvariant()) : null,
        };

    private static byte[]? Correlation(MqttApplicationMessage message) =>
        message.CorrelationData is { Length: > 0 and <= MaxCorrelationBytes } correlation ? correlation : null;

    /// <summary>Queues an answer to a device (QoS 1); a full queue drops it, and the device asks again.</summary>
    private void Answer(string topic, byte[] payload, byte[]? correlation)
    {
        var builder = new MqttApplicationMessageBuilder()
            .WithTopic(topic)
            .WithPayload(payload)
            .WithQualityOfServiceLevel(MqttQualityOfServiceLevel.AtLeastOnce);
        if (correlation is not null) builder = builder.WithCorrelationData(correlation);
        _answers.Writer.TryWrite(builder.Build());
    }

    /// <summary>Publishes the answers on the local broker, after the PUBACK of what they answer. A device away keeps them in its session.</summary>
    private async Task AnswerAsync(CancellationToken cancellationToken)
    {
        try
        {
            await foreach (var message in _answers.Reader.ReadAllAsync(cancellationToken))
            {
                if (_broker is not { } broker) break;
                try
                {
                    await broker.InjectAsync(message, Name, cancellationToken);
                }
                catch (Exception e) when (e is not OperationCanceledException)
                {
                    // Lost answer: the device has no receipt yet, sends the form again and is answered from what the station kept.
                    Raise(new RelayEvent(RelayEventKind.Failed, null, $"answer on '{message.Topic}' not sent: {e.Message}"));
                }
            }
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
        }
    }

    private void Raise(RelayEvent relayEvent) => Relayed?.Invoke(relayEvent);

    /// <summary>Closes the local broker, stops forwarding; everything held stays on disk for the next start.</summary>
    public async ValueTask DisposeAsync()
    {
        _stopping.Cancel();
        if (Interlocked.Exchange(ref _broker, null) is { } broker) await broker.StopAsync();
        _answers.Writer.TryComplete();
        await _answering;
        await _forwarding;
        await _loop.DisposeAsync();
        Outbox.Dispose();
        _store.Dispose();
        _stopping.Dispose();
    }
}
