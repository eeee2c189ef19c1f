// The wall's accounts and sessions are KpuEdge.Access's, with the NSOC's roles.
global using NsocAccount = KpuEdge.Access.OperatorAccount<KpuEdge.Nsoc.Incidents.NsocRole>;
global using NsocSession = KpuEdge.Access.OperatorSession<KpuEdge.Nsoc.Incidents.NsocRole>;
global using KpuEdge.Access;
