# gnuplot -e "out='out'" examples/aircraft/plot.gp   (reads the aircraft_*.csv that
# examples/aircraft/run.py writes into out/; draws out/aircraft.png)
# aircraft_edge.csv: t_s, lag_s, q_ref, q, q_est, q_std, alpha, alpha_est, elevator_cmd,
#   elevator, safe, margin, margin_est, margin_std, rate_est, rate_std, cmds (one row a frame)
# aircraft_cloud.csv: t_edge_s, margin_true, margin_est, margin_std, rate_est, rate_std,
#   rul_true_fh, rul_fh, rul_std_fh, rul_lb_fh, belief_age_s (one row a cloud cycle)
# aircraft_advisories.csv: t_edge_s, value_h, on_board (0: sent by the cloud, 1: applied)
# aircraft_phases.csv: state (0 bridged, 1 satellite, 2 throttled, 3 cut, 4 stalled), phase,
#   start_edge_s, end_edge_s
# Every time is on the edge's time base (the cloud's mapped onto it by run.py).
set datafile separator ","
set datafile missing "NaN"
set grid
set terminal pngcairo size 1300,1100 font "sans,10" noenhanced
set output out."/aircraft.png"
set lmargin at screen 0.08
set rmargin at screen 0.70
panel(top, bottom) = sprintf("set tmargin at screen %g; set bmargin at screen %g; set key at screen 0.765, screen %g left top Left reverse samplen 2", top, bottom, top)
ph = out."/aircraft_phases.csv"
# the outages shaded in every panel (boxes far taller than any panel, clipped)
outage = "ph every ::1 using (($3+$4)/2):(0):(($4-$3)/2):(1e7):($1==3 ? 0xf4cccc : ($1==4 ? 0xfce5cd : 0xffffff)) with boxxyerror fs solid 1.0 noborder lc rgb variable notitle"
stats ph every ::1 using 4 nooutput
set xrange [0:STATS_max]
set multiplot title "Aircraft AC1: edge twin at 200 Hz on board, cloud twin on the ground, a satellite link between them (cut shaded red, stall orange)"

eval panel(0.93, 0.72)
set ylabel "pitch rate (deg/s)"
set y2label "elevator (deg)"
set ytics nomirror
set y2tics
set yrange [-3.5:3.5]
set y2range [-12:12]
unset xlabel
set format x ""
plot @outage, \
     out."/aircraft_edge.csv" every 4::1 using 1:3 with lines dt 2 lw 1.5 lc rgb "black" title "pilot's demand q_ref", \
     "" every 4::1 using 1:4 with lines lw 1.5 lc rgb "#444444" title "q (truth)", \
     "" every 4::1 using 1:5 with lines lw 1 lc rgb "#2171b5" title "q estimate (edge)", \
     "" every 4::1 using 1:9 axes x1y2 with lines lw 1 lc rgb "#d94801" title "elevator command (right)"
unset y2tics
unset y2label

eval panel(0.69, 0.48)
set ylabel "EGT margin (K)"
set y2label "belief age at the cloud (s)"
set y2tics
set yrange [25:55]
set y2range [0:15]
plot @outage, \
     out."/aircraft_cloud.csv" every ::1 using 1:($3-1.96*$4):($3+1.96*$4) with filledcurves fs transparent solid 0.5 noborder lc rgb "#9ecae1" title "cloud's estimate, 95 % band", \
     "" every ::1 using 1:2 with lines lw 2 lc rgb "black" title "margin (truth)", \
     "" every ::1 using 1:3 with lines lw 1.5 lc rgb "#2171b5" title "cloud's margin estimate", \
     out."/aircraft_edge.csv" every 20::1 using 1:13 with lines lw 1 lc rgb "#969696" title "edge's own margin estimate", \
     out."/aircraft_cloud.csv" every ::1 using 1:11 axes x1y2 with lines lw 1.5 lc rgb "#cb181d" title "age of the cloud's belief (s, right)"
unset y2tics
unset y2label

eval panel(0.45, 0.24)
set ylabel "remaining useful life (flight hours)"
set yrange [0:16000]
plot @outage, \
     out."/aircraft_cloud.csv" every ::1 using 1:7 with lines lw 2 lc rgb "black" title "true RUL (to 10 K margin)", \
     "" every ::1 using 1:($8-1.96*$9):($8+1.96*$9) with filledcurves fs transparent solid 0.4 noborder lc rgb "#c7e9c0" title "cloud's RUL +- 1.96 sigma", \
     "" every ::1 using 1:10 with lines lw 1.5 lc rgb "#238b45" title "advisory: lower 95 % bound", \
     out."/aircraft_advisories.csv" every ::1 using 1:($3==0 ? $2 : NaN) with points pt 6 ps 0.8 lc rgb "#238b45" title "advisory sent by the cloud", \
     "" every ::1 using 1:($3==1 ? $2 : NaN) with points pt 7 ps 0.6 lc rgb "#6a51a3" title "advisory applied on board"

eval panel(0.20, 0.06)
set xlabel "time on the edge's time base (s); 1 s = 100 flight hours of engine wear; the satellite link: 300 + 0..150 ms each way"
set format x "%g"
set ylabel "link"
set yrange [0.4:4.6]
set ytics ("satellite" 1, "throttled" 2, "cut" 3, "stalled" 4)
plot ph every ::1 using (($3+$4)/2):1:(($4-$3)/2):(0.35):($1==3 ? 0xcb181d : ($1==4 ? 0xd94801 : 0x2171b5)) with boxxyerror fs solid 0.8 noborder lc rgb variable notitle
unset multiplot
