using System.Security.Cryptography.X509Certificates;
using KpuEdge.Crypto.Pki;

namespace KpuEdge.Crypto.Tests.Pki;

/// <summary>A device whose clock lags (no RTC battery, a long power cut) still reaches its genuine broker; nothing else gets easier.</summary>
public sealed class KpuTlsTests
{
    private static readonly DateTimeOffset Issued = new(2024, 2, 1, 0, 0, 0, TimeSpan.Zero);
    private static readonly EphemeralPki Pki = EphemeralPki.Create("pemilu-2024", Issued, seed: 9);
    private static readonly X509Certificate2 Broker = Pki.IssueService("kpu-broker", CertificatePurpose.TlsServer).Certificate;

    [Fact]
    public void A_device_clock_days_behind_accepts_the_genuine_broker()
    {
        Assert.True(KpuTls.IsTrustedServer(Pki.Trust, Broker, Issued.AddDays(-3), out var error), error);
        Assert.True(KpuTls.IsTrustedServer(Pki.Trust, Broker, Issued.AddDays(10), out error), error);
    }

    [Fact]
    public void A_clock_behind_by_more_than_the_tolerance_an_expired_certificate_or_a_client_certificate_are_still_refused()
    {
        Assert.False(KpuTls.IsTrustedServer(Pki.Trust, Broker, Issued - KpuTls.ServerClockTolerance - TimeSpan.FromDays(2), out var error));
        Assert.StartsWith(CertificateErrors.NotYetValid, error);
        Assert.False(KpuTls.IsTrustedServer(Pki.Trust, Broker, Issued.AddDays(400), out error));
        Assert.StartsWith(CertificateErrors.Expired, error);
        var client = Pki.IssueService("kpu-ingest", CertificatePurpose.TlsClient).Certificate;
        Assert.False(KpuTls.IsTrustedServer(Pki.Trust, client, Issued.AddDays(-3), out error));
        Assert.False(KpuTls.IsTrustedServer(Pki.Trust, null, Issued, out _));
    }
}
