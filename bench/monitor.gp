# bench/monitor.gp: the plots of tether-monitor-bench's results.
#   gnuplot -e "dir='DIR'" bench/monitor.gp
# reads DIR/secure.dat and DIR/overhead.dat, writes DIR/monitor-secure.png
# and DIR/monitor-overhead.png (scripts/bench runs it).
if (!exists("dir")) dir = "build/bench/results"
set terminal pngcairo size 900,560 font ",11" noenhanced
set grid ytics
set key top left

set output dir."/monitor-secure.png"
set title "secure + release of a 4 KiB range (kdreg2: monitor + unmonitor), median and p25-p75"
set xlabel "ranges held in the context"
set ylabel "us per pair"
set logscale x
set xrange [0.7:150000]
set yrange [0:*]
plot dir."/secure.dat" using 1:2:3:4 with yerrorlines lw 2 title "tether unpinned", \
     ""                using 1:5:6:7 with yerrorlines lw 2 title "tether pinned", \
     ""                using 1:8:9:10 with yerrorlines lw 2 title "kdreg2"
unset logscale x
unset xrange

set output dir."/monitor-overhead.png"
set title "4 KiB page operation on a watched page, relative to an unwatched one"
set xlabel ""
set ylabel "watched / unwatched (log)"
set logscale y
set yrange [0.3:*]
set style data histogram
set style histogram cluster gap 1
set style fill solid 0.8 border -1
set boxwidth 0.9
set key top right
plot dir."/overhead.dat" using 2:xtic(1) title "tether", \
     ""                  using 3 title "userfaultfd reader", \
     ""                  using 4 title "kdreg2", \
     1 with lines lc rgb "black" dt 2 notitle
