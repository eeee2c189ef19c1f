using System.Net;
using System.Security.Cryptography.X509Certificates;
using System.Text.Json;
using KpuEdge.Cloud.Security;
using KpuEdge.Core.Elections;
using KpuEdge.Core.Protocol;
using KpuEdge.Core.Regions;
using KpuEdge.Core.Security;
using KpuEdge.Crypto;
using KpuEdge.Crypto.Pki;
using KpuEdge.Edge.Transport;
using Microsoft.Extensions.DependencyInjection;
using MQTTnet;
using MQTTnet.Formatter;
using MQTTnet.Protocol;

namespace KpuEdge.Cloud.Tests;

/// <summary>
/// The broker's half of the chain of trust, through the real embedded broker over TLS: only certificates from KPU's CA
/// connect, the client id is the certificate's, each device publishes and subscribes only within its ACL, and a
/// revoked device is shut out. Every refusal is recorded as a security event.
/// </summary>
public sealed class BrokerSecurityTests(CloudFixture fixture) : IClassFixture<CloudFixture>
{
    private static readonly TimeSpan ReceiptTimeout = TimeSpan.FromSeconds(30);
    private static readonly TpsCode Tps = CloudFixture.Tree.TpsIn(RegionCode.Parse("5171")).First(); // Kota Denpasar
    private static readonly TpsCode OtherTps = CloudFixture.Tree.TpsIn(RegionCode.Parse("5171")).Skip(1).First();

    private SecurityEventRecorder Events => fixture.Cloud.Services.GetRequiredService<SecurityEventRecorder>();

    private Task<SecurityEvent> RecordedAsync(string kind, Func<SecurityEvent, bool> match) =>
        Events.RecordedAsync(e => e.Kind == kind && match(e), new CancellationTokenSource(TimeSpan.FromSeconds(30)).Token);

    /// <summary>An MQTT 5 client over TLS with any certificate and any client id, trusting the fixture's root.</summary>
    private async Task<(IMqttClient Client, MqttClientConnectResult? Result, Exception? Error)> ConnectRawAsync(X509Certificate2? certificate, string clientId)
    {
        var client = new MqttClientFactory().CreateMqttClient();
        var trust = fixture.Pki.Pki.Trust;
        var options = new MqttClientOptionsBuilder()
            .WithTcpServer(fixture.Cloud.BrokerHost, fixture.Cloud.BrokerPort)
            .WithTlsOptions(tls =>
            {
                tls.UseTls().WithTargetHost("localhost")
                    .WithCertificateValidationHandler(e => KpuTls.IsTrustedServer(trust, e.Certificate, DateTimeOffset.UtcNow, out _));
                if (certificate is not null) tls.WithClientCertificates(new X509Certificate2Collection(certificate));
            })
            .WithClientId(clientId)
            .WithProtocolVersion(MqttProtocolVersion.V500)
            .WithTimeout(TimeSpan.FromSeconds(15))
            .Build();
        try
        {
            return (client, await client.ConnectAsync(options), null);
        }
        catch (Exception e)
        {
            return (client, null, e);
        }
    }

    private async Task AssertCertificateRefusedAsync(X509Certificate2? certificate, string clientId, string expectedError)
    {
        var (client, result, error) = await ConnectRawAsync(certificate, clientId);
        using (client)
        {
            Assert.False(client.IsConnected);
            Assert.True(error is not null || result!.ResultCode != MqttClientConnectResultCode.Success);
        }
        var refused = await RecordedAsync(SecurityEventKinds.CertificateRefused,
            e => e.Detail.StartsWith(expectedError, StringComparison.Ordinal) && (certificate is null || e.Subject == clientId || e.Evidence?["subject"].Contains(clientId) == true));
        Assert.Equal(SecurityEventSources.Broker, refused.Source);
    }

    [Fact]
    public async Task Accepts_a_device_with_its_own_certificate_and_client_id()
    {
        var device = fixture.NewDevice(Tps);
        var (client, result, error) = await ConnectRawAsync(device.Credentials.TlsClientCertificate(), device.DeviceId);
        using (client)
        {
            Assert.Null(error);
            Assert.Equal(MqttClientConnectResultCode.Success, result!.ResultCode);
        }
    }

    [Fact]
    public Task Refuses_a_certificate_from_another_CA()
    {
        var foreign = EphemeralPki.Create(CloudFixture.Election.ElectionId, DateTimeOffset.UtcNow, seed: 99)
            .IssueDevice("dev-foreign-ca", KpuRole.Tps, Tps.Value);
        return AssertCertificateRefusedAsync(foreign.TlsClientCertificate(), "dev-foreign-ca", CertificateErrors.UnknownIssuer);
    }

    [Fact]
    public Task Refuses_an_expired_certificate()
    {
        var expired = fixture.Pki.Pki.IssueDevice("dev-expired", KpuRole.Tps, Tps.Value, validity: TimeSpan.FromMinutes(-30));
        return AssertCertificateRefusedAsync(expired.TlsClientCertificate(), "dev-expired", CertificateErrors.Expired);
    }

    [Fact]
    public Task Refuses_a_TLS_server_certificate_offered_as_a_client_certificate()
    {
        // A KPU certificate of the right CA, but a server's (the broker's own kind): not a client identity.
        var (server, _) = fixture.Pki.Pki.IssueService("kpu-other-server", CertificatePurpose.TlsServer);
        return AssertCertificateRefusedAsync(server, "kpu-other-server", CertificateErrors.WrongPurpose);
    }

    [Fact]
    public void Refuses_to_register_a_signing_certificate_of_a_role_that_does_not_sign_forms()
    {
        // A PPK station relays forms; it never signs them as a TPS device.
        var station = fixture.Pki.Pki.IssueDevice("ppk-510101", KpuRole.Ppk, Tps.Region.AncestorAt(RegionLevel.Kecamatan).Value);
        var refused = Assert.Throws<InvalidDataException>(() => fixture.Cloud.Register(station));
        Assert.Contains(CertificateErrors.WrongRole, refused.Message);
    }

    [Fact]
    public async Task Refuses_a_connection_without_a_client_certificate()
    {
        var (client, result, error) = await ConnectRawAsync(null, "dev-anonymous");
        using (client)
        {
            Assert.False(client.IsConnected);
            Assert.True(error is not null || result!.ResultCode != MqttClientConnectResultCode.Success);
        }
        await RecordedAsync(SecurityEventKinds.CertificateRefused, e => e.Detail.Contains("no client certificate", StringComparison.Ordinal));
    }

    [Fact]
    public async Task The_cloud_broker_listens_only_on_its_configured_address_and_names_the_source_of_a_refusal()
    {
        // The probe found [::]:8883 open although 127.0.0.1 was configured.
        using (var ipv6 = new System.Net.Sockets.Socket(System.Net.Sockets.AddressFamily.InterNetworkV6, System.Net.Sockets.SocketType.Stream, System.Net.Sockets.ProtocolType.Tcp))
            await Assert.ThrowsAsync<System.Net.Sockets.SocketException>(async () =>
                await ipv6.ConnectAsync(new System.Net.IPEndPoint(System.Net.IPAddress.IPv6Loopback, fixture.Cloud.BrokerPort)));
        var (client, _, _) = await ConnectRawAsync(null, "dev-nameless");
        client.Dispose();
        var refused = await RecordedAsync(SecurityEventKinds.CertificateRefused, e => e.Detail.Contains("no client certificate", StringComparison.Ordinal)
            && e.Evidence?.ContainsKey("source") == true);
        Assert.StartsWith("127.0.0.1:", refused.Evidence!["source"]);
        Assert.Null(refused.Subject); // nothing verified: no name
    }

    [Fact]
    public async Task A_genuine_device_declaring_a_268_MB_CONNECT_or_a_50_MB_publish_is_cut_off_before_the_ingest_reads_anything()
    {
        var device = fixture.NewDevice(TpsCode.Parse("3273011001009"));
        var ledger = fixture.Cloud.Services.GetRequiredService<Ledger.IResultsLedger>();
        long rejectionsBefore = (await ledger.RejectionCountsAsync()).Values.Sum();
        using (var tcp = new System.Net.Sockets.TcpClient())
        {
            await tcp.ConnectAsync(fixture.Cloud.BrokerHost, fixture.Cloud.BrokerPort);
            await using var ssl = new System.Net.Security.SslStream(tcp.GetStream(), false, (_, _, _, _) => true);
            await ssl.AuthenticateAsClientAsync(new System.Net.Security.SslClientAuthenticationOptions
            {
                TargetHost = "localhost", ClientCertificates = new X509CertificateCollection { device.Credentials.TlsClientCertificate() },
            });
            await ssl.WriteAsync(new byte[] { 0x10, 0xFF, 0xFF, 0xFF, 0x7F });
            int read;
            try { read = await ssl.ReadAsync(new byte[16]).AsTask().WaitAsync(ReceiptTimeout); }
            catch (IOException) { read = 0; }
            Assert.Equal(0, read);
        }
        await RecordedAsync(KpuEdge.Broker.BrokerRefusalKinds.PacketTooLarge, e => e.Detail.Contains("CONNECT", StringComparison.Ordinal));

        await using (var client = await device.ConnectAsync(verifyReceipts: false))
        {
            var huge = new byte[50 * 1024 * 1024];
            await Assert.ThrowsAnyAsync<Exception>(() => client.SendAsync(Topics.Submission(device.Tps, ContestId.Ppwp, device.DeviceId), huge, new byte[32], ReceiptTimeout));
        }
        await RecordedAsync(KpuEdge.Broker.BrokerRefusalKinds.PacketTooLarge, e => e.Detail.Contains("PUBLISH", StringComparison.Ordinal));
        Assert.Equal(rejectionsBefore, (await ledger.RejectionCountsAsync()).Values.Sum()); // refused at the broker: the ingest never saw it
        // And the device's own form still goes through on a new connection.
        await using var again = await device.ConnectAsync();
        Assert.Equal(ReceiptStatus.Accepted, (await again.SubmitAsync(device.Next(), ReceiptTimeout)).Status);
    }

    [Fact]
    public async Task Refuses_a_client_id_that_is_not_the_certificate_s_device()
    {
        var device = fixture.NewDevice(Tps);
        var (client, result, error) = await ConnectRawAsync(device.Credentials.TlsClientCertificate(), "dev-someone-else");
        using (client)
        {
            Assert.False(client.IsConnected);
            Assert.True(error is not null || result!.ResultCode == MqttClientConnectResultCode.ClientIdentifierNotValid);
        }
        var mismatch = await RecordedAsync(SecurityEventKinds.ClientIdMismatch, e => e.Subject == device.DeviceId);
        Assert.Equal("dev-someone-else", mismatch.Evidence!["client_id"]);
    }

    [Fact]
    public async Task Refuses_a_publish_to_another_TPS_topic_and_counts_nothing()
    {
        var device = fixture.NewDevice(Tps);
        await using var client = await device.ConnectAsync();
        var form = device.Next();
        await Assert.ThrowsAsync<UnauthorizedAccessException>(() =>
            client.SendAsync(Topics.Submission(OtherTps, ContestId.Ppwp, device.DeviceId), form.Wire, form.Hash.ToArray(), ReceiptTimeout));
        var denied = await RecordedAsync(SecurityEventKinds.AclPublishDenied, e => e.Subject == device.DeviceId);
        Assert.Equal(Topics.Submission(OtherTps, ContestId.Ppwp, device.DeviceId), denied.Evidence!["topic"]);
        // Nothing of it reached the ingest, and the device's own topic still works.
        using var doc = JsonDocument.Parse(await fixture.Http.GetStringAsync($"api/v1/results/ppwp/{OtherTps}"));
        Assert.Equal(JsonValueKind.Null, doc.RootElement.GetProperty("submission").ValueKind);
        Assert.Equal(ReceiptStatus.Accepted, (await client.SubmitAsync(form, ReceiptTimeout)).Status);
    }

    [Theory]
    [InlineData("kpu/v1/tps/+/c1/+")]
    [InlineData("kpu/v1/device/dev-other/receipt")]
    [InlineData("#")]
    public async Task Refuses_a_subscription_outside_the_device_s_own_topics(string filter)
    {
        var device = fixture.NewDevice(Tps);
        var (client, result, _) = await ConnectRawAsync(device.Credentials.TlsClientCertificate(), device.DeviceId);
        using (client)
        {
            Assert.Equal(MqttClientConnectResultCode.Success, result!.ResultCode);
            var subscribed = await client.SubscribeAsync(new MqttClientSubscribeOptionsBuilder().WithTopicFilter(filter, MqttQualityOfServiceLevel.AtLeastOnce).Build());
            Assert.Equal(MqttClientSubscribeResultCode.NotAuthorized, subscribed.Items.Single().ResultCode);
            var own = await client.SubscribeAsync(new MqttClientSubscribeOptionsBuilder().WithTopicFilter(Topics.Receipt(device.DeviceId)).Build());
            Assert.True(own.Items.Single().ResultCode <= MqttClientSubscribeResultCode.GrantedQoS2);
        }
        await RecordedAsync(SecurityEventKinds.AclSubscribeDenied, e => e.Subject == device.DeviceId && e.Evidence!["topic_filter"] == filter);
    }

    [Fact]
    public async Task A_revoked_device_is_shut_out_its_later_forms_refused_its_earlier_ones_kept_and_marked()
    {
        var device = fixture.NewDevice(Tps);
        var before = device.Next(ContestId.Ppwp);
        await using (var client = await device.ConnectAsync())
            Assert.Equal(ReceiptStatus.Accepted, (await client.SubmitAsync(before, ReceiptTimeout)).Status);

        // The issuing CA revokes the signing certificate (the device was replaced): the CRL reaches the cloud.
        // CRLs keep whole seconds; the revocation takes effect at the next second, after the form above was signed.
        var now = DateTimeOffset.FromUnixTimeSeconds(DateTimeOffset.UtcNow.ToUnixTimeSeconds());
        var revokedAt = now.AddSeconds(1);
        Assert.True(before.Submission.DeviceTime < revokedAt);
        var signingOnly = fixture.Pki.Pki.Issuing.CreateCrl(
            [new RevokedCertificate(device.Credentials.SigningCertificate.SerialHex, revokedAt, RevocationReason.Superseded)],
            now.AddSeconds(-2), now.AddDays(7));
        using (var put = await fixture.Http.PutAsync("api/v1/pki/crl", new ByteArrayContent(signingOnly)))
            Assert.Equal(HttpStatusCode.OK, put.StatusCode);

        // A form signed after the revocation is refused and counts nothing.
        var after = SignedSubmission.Sign(new Submission
        {
            ElectionId = CloudFixture.Election.ElectionId, DeviceId = device.DeviceId, Sequence = 2, PreviousHash = before.Hash,
            DeviceTime = revokedAt.AddSeconds(1), Tally = device.Tally(ContestId.Dpr),
        }, device.Identity.Key);
        await using (var client = await device.ConnectAsync(verifyReceipts: false))
        {
            var receipt = await client.SubmitAsync(after, ReceiptTimeout, 1);
            Assert.Equal(ReceiptStatus.Rejected, receipt.Status);
            Assert.Equal(RejectReasons.RevokedDevice, receipt.Reason);
        }
        // The form accepted before stays, counted and marked.
        using (var doc = JsonDocument.Parse(await fixture.Http.GetStringAsync($"api/v1/results/ppwp/{Tps}")))
        {
            var submission = doc.RootElement.GetProperty("submission");
            Assert.Equal(before.Hash.ToString(), submission.GetProperty("hash").GetString());
            Assert.True(submission.GetProperty("device_revoked").GetProperty("signed_before_revocation").GetBoolean());
        }
        // The revocation is in the transparency log.
        using (var doc = JsonDocument.Parse(await fixture.Http.GetStringAsync("api/v1/log/revocations")))
            Assert.Contains(doc.RootElement.GetProperty("revocations").EnumerateArray(),
                r => r.GetProperty("device_id").GetString() == device.DeviceId && r.GetProperty("log_index").GetInt64() >= 0);

        // Then the TLS certificate too (a newer CRL): the device can no longer connect.
        var both = fixture.Pki.Pki.Issuing.CreateCrl(
            [new RevokedCertificate(device.Credentials.SigningCertificate.SerialHex, revokedAt, RevocationReason.Superseded),
             new RevokedCertificate(device.Credentials.TlsCertificate.SerialHex, now.AddSeconds(-1), RevocationReason.Superseded)],
            now.AddSeconds(-1), now.AddDays(7));
        using (var put = await fixture.Http.PutAsync("api/v1/pki/crl", new ByteArrayContent(both)))
            Assert.Equal(HttpStatusCode.OK, put.StatusCode);
        await AssertCertificateRefusedAsync(device.Credentials.TlsClientCertificate(), device.DeviceId, CertificateErrors.Revoked);

        // The older list cannot be replayed to un-revoke it.
        using (var put = await fixture.Http.PutAsync("api/v1/pki/crl", new ByteArrayContent(signingOnly)))
            Assert.Equal(HttpStatusCode.UnprocessableEntity, put.StatusCode);
    }

    [Fact]
    public async Task Refuses_a_revocation_list_not_signed_by_the_issuing_CA()
    {
        var foreign = EphemeralPki.Create(CloudFixture.Election.ElectionId, DateTimeOffset.UtcNow, seed: 98);
        var now = DateTimeOffset.UtcNow;
        var forged = foreign.Issuing.CreateCrl([new RevokedCertificate("abcdef", now, RevocationReason.KeyCompromise)], now, now.AddDays(1));
        using (var put = await fixture.Http.PutAsync("api/v1/pki/crl", new ByteArrayContent(forged)))
            Assert.Equal(HttpStatusCode.UnprocessableEntity, put.StatusCode);
        using (var put = await fixture.Http.PutAsync("api/v1/pki/crl", new ByteArrayContent([1, 2, 3])))
            Assert.Equal(HttpStatusCode.UnprocessableEntity, put.StatusCode);
    }
}
