using System.Security.Cryptography.X509Certificates;

namespace KpuEdge.Crypto.Pki;

/// <summary>The TLS checks both ends of an MQTT connection make with KPU's trust store instead of the system's.</summary>
public static class KpuTls
{
    /// <summary>A broker's certificate is trusted when it chains to KPU's root and is a cloud service's TLS server certificate.</summary>
    public static bool IsTrustedServer(TrustStore trust, X509Certificate? certificate, DateTimeOffset now, out string error)
    {
        if (certificate is null)
        {
            error = "the broker presented no certificate";
            return false;
        }
        var verdict = trust.Validate(certificate.GetRawCertData(), CertificatePurpose.TlsServer, now, KpuRole.Service);
        error = verdict.Ok ? "" : $"{verdict.Error}: {verdict.Detail}";
        return verdict.Ok;
    }

    /// <summary>The name in a KPU certificate (the MQTT client id it must connect with).</summary>
    public static string NameOf(X509Certificate2 certificate) =>
        KpuCertificate.FromDer(certificate.RawData).Identity?.Name
        ?? throw new ArgumentException($"{certificate.Subject} carries no KPU identity.", nameof(certificate));
}
