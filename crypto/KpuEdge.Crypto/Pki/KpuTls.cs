using System.Security.Cryptography.X509Certificates;

namespace KpuEdge.Crypto.Pki;

/// <summary>The TLS checks both ends of an MQTT connection make with KPU's trust store instead of the system's.</summary>
public static class KpuTls
{
    /// <summary>How far behind a device's clock may be and still accept a broker certificate that is "not yet valid" to it.</summary>
    public static readonly TimeSpan ServerClockTolerance = TimeSpan.FromDays(30);

    /// <summary>A broker's certificate is trusted when it chains to KPU's root and is a cloud service's TLS server certificate.</summary>
    public static bool IsTrustedServer(TrustStore trust, X509Certificate? certificate, DateTimeOffset now, out string error)
    {
        if (certificate is null)
        {
            error = "the broker presented no certificate";
            return false;
        }
        var der = certificate.GetRawCertData();
        var verdict = trust.Validate(der, CertificatePurpose.TlsServer, now, KpuRole.Service);
        if (verdict.Error == CertificateErrors.NotYetValid && KpuCertificate.FromDer(der).NotBefore is var from && from - now <= ServerClockTolerance)
        {
            // A device's clock may lag by days (no RTC battery, a long power cut): a genuine broker certificate that only
            // seems to be from the future is accepted. An expired one never is.
            verdict = trust.Validate(der, CertificatePurpose.TlsServer, from, KpuRole.Service);
        }
        error = verdict.Ok ? "" : $"{verdict.Error}: {verdict.Detail}";
        return verdict.Ok;
    }

    /// <summary>The name in a KPU certificate (the MQTT client id it must connect with).</summary>
    public static string NameOf(X509Certificate2 certificate) =>
        KpuCertificate.FromDer(certificate.RawData).Identity?.Name
        ?? throw new ArgumentException($"{certificate.Subject} carries no KPU identity.", nameof(certificate));
}
