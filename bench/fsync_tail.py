#!/usr/bin/env python3
"""The disk's flush latency, which every durable answer waits for: 8 KiB overwrites of a 16 MiB file, each
followed by fdatasync, for 10 s, optionally beside a writer of N MB/s (1 MiB writes, fdatasync every 200 ms).
Prints p50/p99/p99.9/max and the share of wall time spent inside fdatasyncs longer than 2 ms.
Usage: bench/fsync_tail.py [background MB/s, default 0] (files go to target/, removed after)"""
import os, time, threading, sys
rate=float(sys.argv[1]) if len(sys.argv) > 1 else 0.0  # MB/s of background writes
stop=False
def bg():
    fd=os.open('target/fsbg.bin', os.O_RDWR|os.O_CREAT|os.O_TRUNC)
    chunk=os.urandom(1<<20)
    n=0
    while not stop:
        t=time.time()
        for _ in range(max(1,int(rate/5))):
            os.pwrite(fd, chunk, (n%64)<<20); n+=1
        os.fdatasync(fd)
        time.sleep(max(0,0.2-(time.time()-t)))
    os.close(fd)
if rate>0:
    th=threading.Thread(target=bg); th.start()
fd=os.open('target/fstest.bin', os.O_RDWR|os.O_CREAT|os.O_TRUNC)
os.write(fd,b'\0'*(1<<24)); os.fsync(fd)
lat=[]; buf=b'x'*8192; end=time.time()+10; i=0
while time.time()<end:
    os.pwrite(fd,buf,(i%2000)*8192); i+=1
    t=time.perf_counter(); os.fdatasync(fd); lat.append(time.perf_counter()-t)
stop=True
lat.sort(); q=lambda x: lat[int(x*len(lat))-1]*1e3
stall=sum(x for x in lat if x>0.002); print('time in fdatasyncs >2ms: %.2f%% of 10s'%(stall/10*100)); print('bg %s MB/s: n=%d p50 %.2f p99 %.2f p99.9 %.2f max %.2f ms'%(rate,len(lat),q(.5),q(.99),q(.999),lat[-1]*1e3))
os.remove('target/fstest.bin')
if rate>0: th.join(); os.remove('target/fsbg.bin')
