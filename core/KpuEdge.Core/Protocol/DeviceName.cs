namespace KpuEdge.Core.Protocol;

/// <summary>
/// The rule for a device or service name (a certificate's CN, an MQTT client id, a topic level): letters, digits,
/// '.', '_' and '-', 1–64 characters (the X.520 upper bound of a common name) — nothing that could change a topic's
/// shape ('/', '+', '#'), a mosquitto ACL line or a file name.
/// </summary>
public static class DeviceName
{
    public const int MaxLength = 64;

    public static bool IsValid(string? name) =>
        !string.IsNullOrEmpty(name) && name.Length <= MaxLength && name.All(c => char.IsAsciiLetterOrDigit(c) || c is '.' or '_' or '-');
}
