# bench/hit.gp: hit cost vs cache size, per system, from tether-hit-bench's
# DIR/hit-vs-size.dat (medians with p25-p75 bars).
#   gnuplot -e "dir='DIR'" bench/hit.gp      -> DIR/hit-vs-size.png
if (!exists("dir")) dir = "."
set terminal pngcairo size 900,560 noenhanced
set output dir."/hit-vs-size.png"
set title "registration-cache hit (get+put, random 4 KiB buffer) vs cached entries"
set xlabel "cached entries"
set ylabel "ns per get+put (median, p25-p75)"
set logscale x
set logscale y
set xrange [0.5:200000]
set key top left
set grid
dat = dir."/hit-vs-size.dat"
plot dat using 1:2:3:4 with yerrorlines title "floor (binary search)", \
     dat using 1:5:6:7 with yerrorlines title "tether", \
     dat using 1:8:9:10 with yerrorlines title "libfabric 1.17 verbs, userfaultfd", \
     dat using 1:11:12:13 with yerrorlines title "libfabric 1.17 verbs, memhooks"
