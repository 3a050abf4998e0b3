# gnuplot -e "out='OUTDIR'" examples/platoon/plot.gp   (after examples/platoon/run.py ... OUTDIR)
# platoon_STAGE.csv (every 0.1 s): t, obst_v, v0..v3, gap0..gap3 (m), age1..age3 (s: the age
#   of the predecessor's belief each follower uses), h1..h3 (time gap, s), coop1..coop3,
#   u0..u3 (m/s2), ha3_fused (the last truck's fused hazard acceleration), pa3_own (its
#   own-sensor estimate of its predecessor's acceleration), ha3_true (the obstacle's)
# platoon_summary.csv: one row per stage (run.py)
set datafile separator ","
set datafile missing "nan"
set grid
set terminal pngcairo size 1200,1000 font "sans,10" noenhanced
set output out."/platoon.png"
set multiplot layout 3,1 title "Truck platoon: four twins sharing beliefs over V2V (one mosquitto, link through linkproxy.py)"
set key outside right top Left reverse samplen 2
set xrange [6:15.5]
set arrow 1 from 10, graph 0 to 10, graph 1 nohead dt 2 lc rgb "#636363"
set arrow 2 from 8, graph 0 to 8, graph 1 nohead dt 3 lc rgb "#bdbdbd"
set ylabel "gap to the vehicle ahead (m)"
plot out."/platoon_d100.csv" every ::1 using 1:8 with lines lw 2 lc rgb "#2171b5" title "truck 1, 100 ms", \
     "" every ::1 using 1:9 with lines lw 2 lc rgb "#6baed6" title "truck 2, 100 ms", \
     "" every ::1 using 1:10 with lines lw 2 lc rgb "#08306b" title "truck 3, 100 ms", \
     out."/platoon_d400.csv" every ::1 using 1:10 with lines lw 2 dt 2 lc rgb "#cb181d" title "truck 3, 400 ms (own sensors)", \
     out."/platoon_d100.csv" every ::1 using 1:(5) with lines lw 1 lc rgb "black" title "standstill distance 5 m"
set ylabel "belief age (s) / time gap (s)"
ST = "d0 d100 d200 d400 d100l30"
plot for [i=1:5] out."/platoon_".word(ST, i).".csv" every ::1 using 1:13 with lines lw 1.5 lc i title "age, truck 3, ".word(ST, i), \
     for [i=1:5] out."/platoon_".word(ST, i).".csv" every ::1 using 1:16 with lines lw 2.5 dt 2 lc i title "time gap, truck 3, ".word(ST, i), \
     0.35 with lines lw 1 lc rgb "black" title "budget 0.35 s"
set ylabel "acceleration (m/s2)"
set xlabel "platoon time (s): link degraded at 8 s (dotted), obstacle brakes at 10 s (dashed)"
set xrange [9.5:12.5]
plot out."/platoon_d0.csv" every ::1 using 1:26 with lines lw 2 lc rgb "black" title "obstacle (truth)", \
     "" every ::1 using 1:24 with lines lw 2 lc rgb "#2171b5" title "truck 3's fused belief of the obstacle (V2V from the lead)", \
     "" every ::1 using 1:25 with lines lw 2 lc rgb "#cb181d" title "truck 3's own sensors: truck 2's acceleration", \
     -2 with lines lw 1 dt 2 lc rgb "#636363" title "detection threshold -2 m/s2"
unset multiplot
unset arrow 1
unset arrow 2

set terminal pngcairo size 900,520 font "sans,10" noenhanced
set output out."/platoon_string.png"
set title "String stability: speed error amplification ||e_i|| / ||e_i-1|| after the obstacle brakes"
set xrange [-20:420]
set yrange [0.5:1.2]
set xlabel "added V2V delay (ms)"
set ylabel "||e_i|| / ||e_i-1|| (L2, speed)"
set key inside left bottom Left reverse samplen 2
S = out."/platoon_summary.csv"
age(c) = (column("fixed") == 0 && column("loss_pct") == 0) ? column(c) : NaN
fix(c) = column("fixed") == 1 ? column(c) : NaN
plot S using "delay_ms":(age("amp1")) with linespoints lw 2 pt 7 lc rgb "#2171b5" title "truck 1 / lead, age policy", \
     S using "delay_ms":(age("amp2")) with linespoints lw 2 pt 7 lc rgb "#6baed6" title "truck 2 / truck 1, age policy", \
     S using "delay_ms":(age("amp3")) with linespoints lw 2 pt 7 lc rgb "#08306b" title "truck 3 / truck 2, age policy", \
     S using "delay_ms":(fix("amp3")) with linespoints lw 2 dt 2 pt 6 lc rgb "#cb181d" title "truck 3 / truck 2, fixed 0.6 s gap", \
     1 with lines lw 1 lc rgb "black" title "1: string stable below"
