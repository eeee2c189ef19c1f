// kpu-verify: independent checks of KPU's signed results and transparency log (verify/README.md).
return await KpuEdge.Verify.Cli.RunAsync(args, Console.Out, Console.Error);
