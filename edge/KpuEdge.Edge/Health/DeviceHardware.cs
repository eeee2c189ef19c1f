using System.Device.Gpio;

namespace KpuEdge.Edge.Health;

/// <summary>
/// The device's own hardware for health reporting, chosen with <c>--hardware</c>: <c>pi</c> opens the INA219 on I²C and
/// the case-open switch on GPIO (the pins and bus below, or as given); <c>none</c> (a PC, a test bench) has neither,
/// and its reports say so by leaving battery and tamper out.
/// </summary>
public sealed class DeviceHardware : IDisposable
{
    public const string Pi = "pi";
    public const string None = "none";

    private DeviceHardware(IPowerMonitor? power, ITamperSwitch? tamper)
    {
        Power = power;
        Tamper = tamper;
    }

    public IPowerMonitor? Power { get; }
    public ITamperSwitch? Tamper { get; }

    public static DeviceHardware Open(string kind, int i2cBus = Ina219PowerMonitor.DefaultBus, int i2cAddress = Ina219PowerMonitor.DefaultAddress,
        int tamperPin = GpioTamperSwitch.DefaultPin) => kind switch
    {
        None => new DeviceHardware(null, null),
        Pi => new DeviceHardware(Ina219PowerMonitor.OnBus(i2cBus, i2cAddress), new GpioTamperSwitch(new GpioController(), tamperPin, ownsController: true)),
        _ => throw new ArgumentException($"Unknown hardware '{kind}': {Pi} or {None}.", nameof(kind)),
    };

    /// <summary>Hardware given as it is (tests pass fakes behind the real bindings).</summary>
    public static DeviceHardware Of(IPowerMonitor? power, ITamperSwitch? tamper) => new(power, tamper);

    public void Dispose()
    {
        (Power as IDisposable)?.Dispose();
        Tamper?.Dispose();
    }
}
