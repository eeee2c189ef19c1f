using System.Globalization;

namespace KpuEdge.Edge.Health;

/// <summary>What the operating system says about the device: CPU temperature, free disk under the data folder, free memory.</summary>
public sealed class SystemProbe(string dataDirectory, string thermalZone = SystemProbe.DefaultThermalZone, string memInfo = "/proc/meminfo")
{
    /// <summary>The SoC's sensor on a Raspberry Pi (and most Linux boards): millidegrees Celsius.</summary>
    public const string DefaultThermalZone = "/sys/class/thermal/thermal_zone0/temp";

    /// <summary>Tenths of a degree; null where the board has no thermal zone (a VM, a container).</summary>
    public int? CpuDeciCelsius()
    {
        try
        {
            return int.TryParse(File.ReadAllText(thermalZone).Trim(), NumberStyles.Integer, CultureInfo.InvariantCulture, out int milli)
                ? milli / 100 : null;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { return null; }
    }

    public int DiskFreeMegabytes()
    {
        Directory.CreateDirectory(dataDirectory);
        return (int)Math.Min(int.MaxValue, new DriveInfo(Path.GetFullPath(dataDirectory)).AvailableFreeSpace >> 20);
    }

    /// <summary>MemAvailable from /proc/meminfo; what the runtime sees where there is none.</summary>
    public int MemoryFreeMegabytes()
    {
        try
        {
            foreach (var line in File.ReadLines(memInfo))
            {
                if (!line.StartsWith("MemAvailable:", StringComparison.Ordinal)) continue;
                var kb = line["MemAvailable:".Length..].Trim().Split(' ')[0];
                return (int)(long.Parse(kb, CultureInfo.InvariantCulture) >> 10);
            }
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or FormatException) { }
        var gc = GC.GetGCMemoryInfo();
        return (int)((gc.TotalAvailableMemoryBytes - gc.MemoryLoadBytes) >> 20);
    }
}
